#include "coordinator/nsga2.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "coordinator/mo_rank.h"

namespace compsweep::coordinator {

namespace {

constexpr uint64_t kMaxEnumerate = 1 << 16;  // finite spaces searched exhaustively for a gap
constexpr int kChildTries = 48;
constexpr int kRandomTries = 16;

nlohmann::json NormalizedNumber(const nlohmann::json& v) {
  if (!v.is_number()) return v;
  const double x = v.get<double>();
  if (std::nearbyint(x) == x && std::abs(x) < 9007199254740992.0) return static_cast<int64_t>(x);
  return x;
}

nlohmann::json MetricsJson(const std::vector<double>& m) {
  nlohmann::json a = nlohmann::json::array();
  for (double v : m) a.push_back(std::isnan(v) ? nlohmann::json() : nlohmann::json(v));
  return a;
}

std::vector<double> MetricsFrom(const nlohmann::json& a) {
  std::vector<double> m;
  for (const auto& v : a) m.push_back(v.is_null() ? NAN : v.get<double>());
  return m;
}

}  // namespace

Nsga2::Nsga2(const SearchSpace& space, const Nsga2Options& options)
    : space_(space), options_(options), rng_(options.seed) {
  if (options_.population_size <= 0) {
    options_.population_size = static_cast<int>(std::clamp<int64_t>(options_.run_cap / 4, 8, 32));
  }
  if (options_.initial_random <= 0) options_.initial_random = options_.population_size;
  if (options_.mutation_prob <= 0) {
    size_t free = 0;
    for (const GeneSpec& g : space_.genes()) free += g.kind != GeneSpec::Kind::kFixed;
    options_.mutation_prob = 1.0 / static_cast<double>(std::max<size_t>(free, 1));
  }
}

Result<Nsga2> Nsga2::Create(const SearchSpace& space, const Nsga2Options& options) {
  if (options.run_cap < 1) return InvalidArgument("nsga2: run_cap must be >= 1");
  if (options.maximize.empty()) return InvalidArgument("nsga2: no objectives");
  if (!(options.crossover_prob >= 0 && options.crossover_prob <= 1) ||
      !(options.mutation_prob >= 0 && options.mutation_prob <= 1))
    return InvalidArgument("nsga2: probabilities must lie in [0, 1]");
  if (!(options.eta_crossover >= 0) || !(options.eta_mutation >= 0))
    return InvalidArgument("nsga2: distribution indices must be >= 0");
  return Nsga2(space, options);
}

// The engine's raw output, not std::uniform_*_distribution, so that the points
// do not depend on the standard library's implementation.
double Nsga2::Unit() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

uint64_t Nsga2::Index(uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = rng_();
  } while (x >= limit);
  return x % n;
}

std::string Nsga2::Key(const nlohmann::json& params) const {
  nlohmann::json key = nlohmann::json::object();
  for (const GeneSpec& g : space_.genes()) {
    auto it = params.find(g.name);
    key[g.name] = it == params.end() ? nlohmann::json() : NormalizedNumber(*it);
  }
  return key.dump();
}

Genes Nsga2::RandomGenes() {
  Genes genes(space_.size(), 0.0);
  for (size_t i = 0; i < space_.size(); ++i) {
    const GeneSpec& g = space_.genes()[i];
    switch (g.kind) {
      case GeneSpec::Kind::kFixed:
        break;
      case GeneSpec::Kind::kContinuous:
        genes[i] = g.lo + (g.hi - g.lo) * Unit();
        break;
      default:
        genes[i] = g.lo + static_cast<double>(Index(static_cast<uint64_t>(g.hi - g.lo + 1)));
        break;
    }
  }
  return genes;
}

std::vector<size_t> Nsga2::Population(std::vector<int>* rank, std::vector<double>* crowding) const {
  Points points;
  points.reserve(done_.size());
  for (const Done& d : done_) points.push_back(d.metrics);
  *rank = NonDominatedRanks(points, options_.maximize);
  crowding->assign(done_.size(), 0.0);
  std::map<int, std::vector<size_t>> fronts;
  for (size_t i = 0; i < done_.size(); ++i) {
    if ((*rank)[i] != kUnranked) fronts[(*rank)[i]].push_back(i);
  }
  std::vector<size_t> order;
  for (const auto& [r, members] : fronts) {
    const std::vector<double> c = CrowdingDistances(points, members);
    for (size_t j = 0; j < members.size(); ++j) (*crowding)[members[j]] = c[j];
    std::vector<size_t> sorted = members;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](size_t a, size_t b) { return (*crowding)[a] > (*crowding)[b]; });
    order.insert(order.end(), sorted.begin(), sorted.end());
  }
  if (order.size() > static_cast<size_t>(options_.population_size))
    order.resize(static_cast<size_t>(options_.population_size));
  return order;
}

Genes Nsga2::Child(const std::vector<size_t>& population, const std::vector<int>& rank,
                   const std::vector<double>& crowding) {
  auto tournament = [&]() {
    const size_t a = population[Index(population.size())];
    const size_t b = population[Index(population.size())];
    if (rank[a] != rank[b]) return rank[a] < rank[b] ? a : b;
    return crowding[b] > crowding[a] ? b : a;
  };
  const Genes& p1 = done_[tournament()].genes;
  const Genes& p2 = done_[tournament()].genes;
  Genes child = p1;
  const double ec = options_.eta_crossover;
  if (Unit() < options_.crossover_prob) {
    for (size_t i = 0; i < child.size(); ++i) {
      const GeneSpec& g = space_.genes()[i];
      if (g.kind == GeneSpec::Kind::kFixed) continue;
      if (Unit() >= 0.5) continue;  // each gene crosses with probability 1/2
      if (g.kind == GeneSpec::Kind::kCategorical) {
        child[i] = p2[i];
        continue;
      }
      const double y1 = std::min(p1[i], p2[i]);
      const double y2 = std::max(p1[i], p2[i]);
      if (y2 - y1 < 1e-14 || g.hi <= g.lo) continue;
      // Simulated binary crossover with bounds (Deb & Agrawal 1995).
      const double u = Unit();
      auto spread = [&](double beta) {
        const double alpha = 2.0 - std::pow(beta, -(ec + 1.0));
        return u <= 1.0 / alpha ? std::pow(u * alpha, 1.0 / (ec + 1.0))
                                : std::pow(1.0 / (2.0 - u * alpha), 1.0 / (ec + 1.0));
      };
      const double c1 = 0.5 * ((y1 + y2) - spread(1.0 + 2.0 * (y1 - g.lo) / (y2 - y1)) * (y2 - y1));
      const double c2 = 0.5 * ((y1 + y2) + spread(1.0 + 2.0 * (g.hi - y2) / (y2 - y1)) * (y2 - y1));
      child[i] = std::clamp(Unit() < 0.5 ? c1 : c2, g.lo, g.hi);
    }
  }
  const double em = options_.eta_mutation;
  for (size_t i = 0; i < child.size(); ++i) {
    const GeneSpec& g = space_.genes()[i];
    if (g.kind == GeneSpec::Kind::kFixed || g.hi <= g.lo) continue;
    if (Unit() >= options_.mutation_prob) continue;
    if (g.kind == GeneSpec::Kind::kCategorical) {
      child[i] = g.lo + static_cast<double>(Index(static_cast<uint64_t>(g.hi - g.lo + 1)));
      continue;
    }
    // Polynomial mutation (Deb & Goyal 1996).
    const double y = std::clamp(child[i], g.lo, g.hi);
    const double range = g.hi - g.lo;
    const double r = Unit();
    const double pw = 1.0 / (em + 1.0);
    double dq;
    if (r < 0.5) {
      const double xy = 1.0 - (y - g.lo) / range;
      dq = std::pow(2.0 * r + (1.0 - 2.0 * r) * std::pow(xy, em + 1.0), pw) - 1.0;
    } else {
      const double xy = 1.0 - (g.hi - y) / range;
      dq = 1.0 - std::pow(2.0 * (1.0 - r) + 2.0 * (r - 0.5) * std::pow(xy, em + 1.0), pw);
    }
    double m = std::clamp(y + dq * range, g.lo, g.hi);
    if (g.kind != GeneSpec::Kind::kContinuous && std::round(m) == std::round(y)) {
      // On a few discrete steps the polynomial step rounds back; move one step.
      m = std::round(y) + (r < 0.5 ? -1.0 : 1.0);
      if (m < g.lo || m > g.hi) m = std::round(y) - (r < 0.5 ? -1.0 : 1.0);
    }
    child[i] = std::clamp(m, g.lo, g.hi);
  }
  space_.Snap(&child);
  return child;
}

bool Nsga2::UnseenPoint(Genes* out) {
  const auto card = space_.Cardinality();
  if (!card || *card > kMaxEnumerate) return false;
  std::vector<uint64_t> unseen;
  for (uint64_t i = 0; i < *card; ++i) {
    if (!seen_.count(Key(space_.ToParams(space_.PointAt(i))))) unseen.push_back(i);
  }
  if (unseen.empty()) return false;
  *out = space_.PointAt(unseen[Index(unseen.size())]);
  return true;
}

std::vector<nlohmann::json> Nsga2::Propose(int n) {
  std::vector<nlohmann::json> out;
  std::vector<int> rank;
  std::vector<double> crowding;
  const std::vector<size_t> population = Population(&rank, &crowding);
  for (int k = 0; k < n && proposed_ < options_.run_cap; ++k) {
    const bool evolve = proposed_ >= options_.initial_random && population.size() >= 2;
    Genes genes;
    std::string key;
    bool found = false;
    for (int t = 0; t < kChildTries + kRandomTries && !found; ++t) {
      if (!evolve && t < kChildTries) t = kChildTries;  // random draws only
      genes = t < kChildTries ? Child(population, rank, crowding) : RandomGenes();
      space_.Snap(&genes);
      key = Key(space_.ToParams(genes));
      found = !seen_.count(key);
    }
    if (!found) {
      if (!UnseenPoint(&genes)) break;  // a finite space fully proposed (or too large to list)
      key = Key(space_.ToParams(genes));
    }
    seen_.insert(key);
    pending_[key] = genes;
    pending_order_.push_back(key);
    ++proposed_;
    out.push_back(space_.ToParams(genes));
  }
  return out;
}

Status Nsga2::Tell(const nlohmann::json& params, const std::vector<double>& metrics) {
  if (metrics.size() != options_.maximize.size())
    return InvalidArgument("nsga2: expected " + std::to_string(options_.maximize.size()) +
                           " metrics, got " + std::to_string(metrics.size()));
  Result<Genes> genes = space_.ToGenes(params);
  if (!genes.ok()) return genes.status().WithContext("nsga2: point off the space");
  const std::string key = Key(params);
  if (told_.count(key)) return AlreadyExists("nsga2: point told twice: " + key);
  Done d;
  d.metrics = metrics;
  if (auto it = pending_.find(key); it != pending_.end()) {
    d.genes = it->second;  // exactly as bred (log genes do not round-trip through values)
    pending_.erase(it);
    pending_order_.erase(std::find(pending_order_.begin(), pending_order_.end(), key));
  } else {
    d.genes = std::move(genes).value();
    space_.Snap(&d.genes);
    seen_.insert(key);
  }
  told_.insert(key);
  done_.push_back(std::move(d));
  return Status::Ok();
}

nlohmann::json Nsga2::ToJson() const {
  nlohmann::json names = nlohmann::json::array();
  for (const GeneSpec& g : space_.genes()) names.push_back(g.name);
  std::ostringstream rng;
  rng << rng_;
  nlohmann::json pending = nlohmann::json::array();
  for (const std::string& key : pending_order_) pending.push_back(pending_.at(key));
  nlohmann::json done = nlohmann::json::array();
  for (const Done& d : done_)
    done.push_back({{"genes", d.genes}, {"metrics", MetricsJson(d.metrics)}});
  const Nsga2Options& o = options_;
  return {{"version", 1},
          {"names", std::move(names)},
          {"options",
           {{"maximize", o.maximize},
            {"run_cap", o.run_cap},
            {"population_size", o.population_size},
            {"initial_random", o.initial_random},
            {"crossover_prob", o.crossover_prob},
            {"mutation_prob", o.mutation_prob},
            {"eta_crossover", o.eta_crossover},
            {"eta_mutation", o.eta_mutation},
            {"seed", o.seed}}},
          {"rng", rng.str()},
          {"proposed", proposed_},
          {"pending", std::move(pending)},
          {"done", std::move(done)}};
}

Result<Nsga2> Nsga2::FromJson(const SearchSpace& space, const nlohmann::json& state) {
  try {
    if (state.at("version").get<int>() != 1) return InvalidArgument("nsga2 state: unknown version");
    std::vector<std::string> names;
    for (const GeneSpec& g : space.genes()) names.push_back(g.name);
    if (state.at("names").get<std::vector<std::string>>() != names)
      return InvalidArgument("nsga2 state: the sweep's parameters changed");
    const auto& oj = state.at("options");
    Nsga2Options o;
    o.maximize = oj.at("maximize").get<std::vector<bool>>();
    o.run_cap = oj.at("run_cap").get<int64_t>();
    o.population_size = oj.at("population_size").get<int>();
    o.initial_random = oj.at("initial_random").get<int>();
    o.crossover_prob = oj.at("crossover_prob").get<double>();
    o.mutation_prob = oj.at("mutation_prob").get<double>();
    o.eta_crossover = oj.at("eta_crossover").get<double>();
    o.eta_mutation = oj.at("eta_mutation").get<double>();
    o.seed = oj.at("seed").get<uint64_t>();
    Result<Nsga2> made = Create(space, o);
    if (!made.ok()) return made.status();
    Nsga2& n = made.value();
    std::istringstream rng(state.at("rng").get<std::string>());
    rng >> n.rng_;
    if (rng.fail()) return InvalidArgument("nsga2 state: bad random engine state");
    n.proposed_ = state.at("proposed").get<int64_t>();
    for (const auto& p : state.at("pending")) {
      Genes g = p.get<Genes>();
      if (g.size() != space.size()) return InvalidArgument("nsga2 state: wrong number of genes");
      const std::string key = n.Key(space.ToParams(g));
      n.pending_[key] = g;
      n.pending_order_.push_back(key);
      n.seen_.insert(key);
    }
    for (const auto& d : state.at("done")) {
      Done e;
      e.genes = d.at("genes").get<Genes>();
      e.metrics = MetricsFrom(d.at("metrics"));
      if (e.genes.size() != space.size() || e.metrics.size() != o.maximize.size())
        return InvalidArgument("nsga2 state: wrong number of genes or metrics");
      const std::string key = n.Key(space.ToParams(e.genes));
      n.seen_.insert(key);
      n.told_.insert(key);
      n.done_.push_back(std::move(e));
    }
    return made;
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("nsga2 state: ") + e.what());
  }
}

}  // namespace compsweep::coordinator
