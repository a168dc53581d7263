// Nsga2: the asynchronous steady-state NSGA-II proposer of `method: nsga2`.
// Propose(n) hands out n new points at once, bred from the results told so far;
// it never waits for a generation: each child is bred from the current
// population (the best population_size results by non-dominated rank, then
// crowding distance, as NSGA-II's environmental selection), with binary
// tournaments, simulated binary crossover and polynomial mutation on
// continuous/integer/ordinal genes, and swap/redraw on categorical ones (Deb et
// al. 2002; Deb & Agrawal 1995). Until initial_random points were proposed, or
// fewer than two results are in, points are drawn uniformly (log-uniform for
// log ranges), which covers the declared space.
// Guarantees: no point is proposed twice, or after it was told; at most run_cap
// points in all; the same seed and the same sequence of calls give the same
// points; ToJson/FromJson carry the whole state (random engine included), so a
// restored proposer continues exactly as one that never stopped.
// Why NSGA-II and not MO-TPE: compression sweeps are small (tens to hundreds of
// trials), mostly discrete (bits, schemes, sparsity lists) and run with many
// workers at once; NSGA-II's population needs no density model over discrete
// values, breeds in O(n log n) per proposal, stays diverse across a front via
// crowding, and its state is a list of points, trivially persisted.
// Thread-safety: not thread-safe; owned by one thread (the coordinator core).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "coordinator/search_space.h"

namespace compsweep::coordinator {

struct Nsga2Options {
  std::vector<bool> maximize;  // one per objective, in the order metrics are told
  int64_t run_cap = 0;         // points proposed in all (> 0)
  int population_size = 0;     // 0: clamp(run_cap / 4, 8, 32)
  int initial_random = 0;      // 0: population_size
  double crossover_prob = 0.9;
  double mutation_prob = 0;   // per gene; 0: 1 / (number of non-fixed genes)
  double eta_crossover = 15;  // SBX distribution index
  double eta_mutation = 20;   // polynomial mutation distribution index
  uint64_t seed = 0;
};

class Nsga2 {
 public:
  // InvalidArgument for run_cap < 1, no objectives, or probabilities off [0, 1].
  static Result<Nsga2> Create(const SearchSpace& space, const Nsga2Options& options);

  // Up to n new points (flat params objects), fewer once run_cap is reached or
  // every point of a finite space was proposed.
  std::vector<nlohmann::json> Propose(int n);

  // The result of a point: one metric per objective (NaN for a failed or stopped
  // trial: it is never a parent, and never proposed again). A point that this
  // proposer did not propose (a grid seed, an earlier run) is accepted too, but
  // does not count against run_cap. InvalidArgument if the point is off the
  // space or has the wrong number of metrics; AlreadyExists if it was told before.
  Status Tell(const nlohmann::json& params, const std::vector<double>& metrics);

  int64_t proposed() const { return proposed_; }
  size_t pending() const { return pending_.size(); }
  size_t told() const { return done_.size(); }
  const Nsga2Options& options() const { return options_; }

  // The whole state; FromJson restores it over the same space (InvalidArgument
  // when the parameter names differ or the state is malformed).
  nlohmann::json ToJson() const;
  static Result<Nsga2> FromJson(const SearchSpace& space, const nlohmann::json& state);

 private:
  struct Done {
    Genes genes;
    std::vector<double> metrics;
  };
  Nsga2(const SearchSpace& space, const Nsga2Options& options);

  double Unit();               // uniform in [0, 1)
  uint64_t Index(uint64_t n);  // uniform in [0, n)
  Genes RandomGenes();
  Genes Child(const std::vector<size_t>& population, const std::vector<int>& rank,
              const std::vector<double>& crowding);
  // Indices into done_ of the current population, with the rank and crowding
  // distance of every done_ entry (unranked: failed).
  std::vector<size_t> Population(std::vector<int>* rank, std::vector<double>* crowding) const;
  // A point of a finite space not yet seen, or false when there is none.
  bool UnseenPoint(Genes* out);
  // Identity of a point: its params, numbers normalized, as compact JSON.
  std::string Key(const nlohmann::json& params) const;

  SearchSpace space_;
  Nsga2Options options_;
  std::mt19937_64 rng_;
  int64_t proposed_ = 0;
  std::vector<Done> done_;                  // told, in order
  std::map<std::string, Genes> pending_;    // proposed, not told: key -> genes
  std::set<std::string> seen_;              // every key proposed or told
  std::set<std::string> told_;              // the keys of done_
  std::vector<std::string> pending_order_;  // proposal order of pending_ (for ToJson)
};

}  // namespace compsweep::coordinator
