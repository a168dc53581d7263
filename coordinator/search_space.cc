#include "coordinator/search_space.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace compsweep::coordinator {

namespace {

// 12 significant digits, so that 7 * 0.1 reads 0.7 (as the sweep's expansion does).
double Tidy(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.12g", v);
  return std::strtod(buf, nullptr);
}

nlohmann::json Number(double v) {
  if (std::nearbyint(v) == v && std::abs(v) < 9007199254740992.0) {
    return static_cast<int64_t>(v);
  }
  return v;
}

bool SameValue(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

}  // namespace

Result<SearchSpace> SearchSpace::Create(const std::map<std::string, ParamSpec>& parameters) {
  SearchSpace space;
  for (const auto& [name, ps] : parameters) {
    GeneSpec g;
    g.name = name;
    switch (ps.kind) {
      case ParamSpec::Kind::kValue:
        if (ps.values.size() != 1) return InvalidArgument(name + ": value needs one element");
        g.kind = GeneSpec::Kind::kFixed;
        g.values = ps.values;
        break;
      case ParamSpec::Kind::kValues: {
        if (ps.values.empty()) return InvalidArgument(name + ": empty values list");
        const bool numeric = std::all_of(ps.values.begin(), ps.values.end(),
                                         [](const nlohmann::json& v) { return v.is_number(); });
        g.kind = numeric ? GeneSpec::Kind::kOrdinal : GeneSpec::Kind::kCategorical;
        g.values = ps.values;
        if (numeric) {
          // Ordinal genes need the values in order for "near" to mean near.
          std::stable_sort(g.values.begin(), g.values.end(),
                           [](const nlohmann::json& a, const nlohmann::json& b) {
                             return a.get<double>() < b.get<double>();
                           });
        }
        g.lo = 0;
        g.hi = static_cast<double>(g.values.size() - 1);
        break;
      }
      case ParamSpec::Kind::kDistribution:
        if (!(ps.min <= ps.max)) return InvalidArgument(name + ": min > max");
        if (ps.distribution == "uniform") {
          g.kind = GeneSpec::Kind::kContinuous;
          g.lo = ps.min;
          g.hi = ps.max;
        } else if (ps.distribution == "int_uniform") {
          g.kind = GeneSpec::Kind::kInteger;
          g.lo = static_cast<double>(std::llround(ps.min));
          g.hi = static_cast<double>(std::llround(ps.max));
        } else if (ps.distribution == "log_uniform_values") {
          if (!(ps.min > 0)) return InvalidArgument(name + ": log_uniform_values needs min > 0");
          g.kind = GeneSpec::Kind::kContinuous;
          g.log = true;
          g.lo = std::log(ps.min);
          g.hi = std::log(ps.max);
        } else if (ps.distribution == "q_uniform") {
          if (!(ps.q > 0)) return InvalidArgument(name + ": q must be > 0");
          g.kind = GeneSpec::Kind::kInteger;
          g.q = ps.q;
          g.lo = std::ceil(ps.min / ps.q - 1e-9);
          g.hi = std::floor(ps.max / ps.q + 1e-9);
          if (g.lo > g.hi) return InvalidArgument(name + ": no multiple of q in [min, max]");
        } else {
          return InvalidArgument(name + ": unknown distribution '" + ps.distribution + "'");
        }
        break;
    }
    space.genes_.push_back(std::move(g));
  }
  return space;
}

std::optional<uint64_t> SearchSpace::Cardinality() const {
  double total = 1;
  for (const GeneSpec& g : genes_) {
    if (g.kind == GeneSpec::Kind::kContinuous) return std::nullopt;
    if (g.kind != GeneSpec::Kind::kFixed) total *= g.hi - g.lo + 1;
    if (total > 9007199254740992.0) return std::nullopt;
  }
  return static_cast<uint64_t>(total);
}

void SearchSpace::Snap(Genes* genes) const {
  genes->resize(genes_.size(), 0.0);
  for (size_t i = 0; i < genes_.size(); ++i) {
    const GeneSpec& g = genes_[i];
    double& x = (*genes)[i];
    if (g.kind == GeneSpec::Kind::kFixed) {
      x = 0;
      continue;
    }
    if (std::isnan(x)) x = g.lo;
    if (g.kind != GeneSpec::Kind::kContinuous) x = std::round(x);
    x = std::clamp(x, g.lo, g.hi);
  }
}

nlohmann::json SearchSpace::ToParams(const Genes& in) const {
  Genes genes = in;
  Snap(&genes);
  nlohmann::json out = nlohmann::json::object();
  for (size_t i = 0; i < genes_.size(); ++i) {
    const GeneSpec& g = genes_[i];
    const double x = genes[i];
    switch (g.kind) {
      case GeneSpec::Kind::kFixed:
        out[g.name] = g.values[0];
        break;
      case GeneSpec::Kind::kOrdinal:
      case GeneSpec::Kind::kCategorical:
        out[g.name] = g.values[static_cast<size_t>(x)];
        break;
      case GeneSpec::Kind::kInteger:
        out[g.name] = g.q > 0 ? Number(Tidy(x * g.q)) : Number(x);
        break;
      case GeneSpec::Kind::kContinuous:
        out[g.name] = Number(g.log ? std::clamp(std::exp(x), std::exp(g.lo), std::exp(g.hi)) : x);
        break;
    }
  }
  return out;
}

Result<Genes> SearchSpace::ToGenes(const nlohmann::json& params) const {
  if (!params.is_object()) return InvalidArgument("params must be an object");
  Genes genes(genes_.size(), 0.0);
  for (size_t i = 0; i < genes_.size(); ++i) {
    const GeneSpec& g = genes_[i];
    auto it = params.find(g.name);
    if (it == params.end()) return InvalidArgument(g.name + ": missing");
    const nlohmann::json& v = *it;
    if (g.kind == GeneSpec::Kind::kFixed) {
      if (!SameValue(v, g.values[0])) return InvalidArgument(g.name + ": not the fixed value");
      continue;
    }
    if (g.kind == GeneSpec::Kind::kOrdinal || g.kind == GeneSpec::Kind::kCategorical) {
      auto pos = std::find_if(g.values.begin(), g.values.end(),
                              [&](const nlohmann::json& c) { return SameValue(c, v); });
      if (pos == g.values.end()) return InvalidArgument(g.name + ": not one of the values");
      genes[i] = static_cast<double>(pos - g.values.begin());
      continue;
    }
    if (!v.is_number()) return InvalidArgument(g.name + ": not a number");
    double x = v.get<double>();
    if (g.log) x = std::log(x);
    if (g.q > 0) {
      const double k = x / g.q;
      if (std::abs(k - std::round(k)) > 1e-9 * (1 + std::abs(k)))
        return InvalidArgument(g.name + ": not a multiple of q");
      x = std::round(k);
    }
    const double slack = g.kind == GeneSpec::Kind::kContinuous ? 1e-9 * (1 + std::abs(x)) : 0;
    if (!(x >= g.lo - slack && x <= g.hi + slack))
      return InvalidArgument(g.name + ": out of range");
    if (g.kind == GeneSpec::Kind::kInteger && std::round(x) != x)
      return InvalidArgument(g.name + ": not an integer step");
    genes[i] = std::clamp(x, g.lo, g.hi);
  }
  return genes;
}

Genes SearchSpace::PointAt(uint64_t index) const {
  Genes genes(genes_.size(), 0.0);
  for (size_t i = genes_.size(); i-- > 0;) {
    const GeneSpec& g = genes_[i];
    if (g.kind == GeneSpec::Kind::kFixed) continue;
    const auto radix = static_cast<uint64_t>(g.hi - g.lo + 1);
    genes[i] = g.lo + static_cast<double>(index % radix);
    index /= radix;
  }
  return genes;
}

}  // namespace compsweep::coordinator
