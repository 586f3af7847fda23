// Trainer::step as ranks of a gloo group (forked processes on localhost) against one process stepping
// on all the step's micro-batches: every step's tokens and loss, and the LoRA weights after the run,
// agree within float summation order (1e-5 relative), and every rank ends bit-identical. 2 ranks
// splitting the golden batch's two rows; 3 ranks where a rank (and in one step every rank) brings an
// empty micro-batch list. Skipped in a build without Gloo.
#include <gtest/gtest.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "collective/collective.h"
#include "collective_test_util.h"
#include "model_test_util.h"
#include "train/trainer.h"

namespace lp {
namespace {

using testing::Golden;
using testing::RankOutcome;

constexpr int kReference = -1;  // the process that steps alone on every micro-batch

// plan[step][rank]: the golden rows (each one micro-batch) rank takes in that step.
using Plan = std::vector<std::vector<std::vector<int>>>;

OptimConfig optim(int steps) {
  OptimConfig c;
  c.lr = 1e-3;
  c.weight_decay = 0.01;
  c.max_grad_norm = 1.0;
  c.schedule = LrSchedule::Linear;
  c.warmup_steps = 1;
  c.total_steps = steps;
  return c;
}

struct Run {
  std::vector<int64_t> tokens;
  std::vector<double> losses;
  std::string fingerprint;     // of the final LoRA weights
  std::vector<float> weights;  // every LoRA tensor, flat, in lora_params() order
};

// The process `rank` (kReference: alone) of a run: steps, then writes its final LoRA weights to `dir`
// and reports "tokens loss ..." per step and the weights' fingerprint.
std::string run_process(const Golden& g, const Plan& plan, int world, int port, int rank, const std::string& dir) {
#ifdef _OPENMP
  omp_set_num_threads(1);  // a forked child: the parent's OpenMP pool is not there (libgomp is not fork-safe)
#endif
  const auto m = g.load();
  Trainer tr(*m, optim(static_cast<int>(plan.size())));
  std::unique_ptr<Collective> group;
  if (rank != kReference) {
    CollectiveConfig c;
    c.rank = rank;
    c.world_size = world;
    c.master_addr = "127.0.0.1";
    c.master_port = port;
    c.join_timeout = std::chrono::seconds(30);
    c.op_timeout = std::chrono::seconds(60);
    group = make_collective(m->backend(), c);
  }
  Batch ignored = g.micro[0];  // a micro-batch without a label token: the reference's step of no tokens
  for (int32_t& l : ignored.labels) l = -100;
  std::ostringstream os;
  os.precision(17);
  for (const auto& step : plan) {
    std::vector<Batch> micro;
    for (size_t r = 0; r < step.size(); ++r)
      if (rank == kReference || static_cast<int>(r) == rank)
        for (int row : step[r]) micro.push_back(g.micro[row]);
    if (rank == kReference && micro.empty()) micro.push_back(ignored);
    const StepStats s = tr.step(micro, group.get());
    os << s.tokens << " " << s.loss << " ";
  }
  const LlamaModel::LoraTensors t = m->lora_tensors();
  std::vector<float> w;
  for (size_t i = 0; i < t.value.size(); ++i) {
    const size_t off = w.size();
    w.resize(off + static_cast<size_t>(t.size[i]));
    m->backend().to_host(w.data() + off, t.value[i], static_cast<size_t>(t.size[i]) * sizeof(float));
  }
  std::ofstream(dir + "/weights_" + std::to_string(rank) + ".bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(w.data()), static_cast<std::streamsize>(w.size() * sizeof(float)));
  os << testing::fingerprint(w.data(), w.size() * sizeof(float));
  return os.str();
}

Run parse(const RankOutcome& o, size_t steps, const std::string& dir) {
  Run r;
  std::istringstream is(o.text);
  for (size_t i = 0; i < steps; ++i) {
    int64_t t = 0;
    double l = 0;
    is >> t >> l;
    r.tokens.push_back(t);
    r.losses.push_back(l);
  }
  is >> r.fingerprint;
  std::ifstream f(dir + "/weights_" + std::to_string(o.rank) + ".bin", std::ios::binary | std::ios::ate);
  r.weights.resize(static_cast<size_t>(f.tellg()) / sizeof(float));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(r.weights.data()), static_cast<std::streamsize>(r.weights.size() * sizeof(float)));
  return r;
}

// Runs the reference and then the group; checks every rank against the reference.
void expect_group_matches_one_process(const Plan& plan, int world, const char* tag) {
  if (!collective_compiled("gloo")) GTEST_SKIP() << "built without Gloo (install libgloo-dev)";
  const Golden g("llama");
  testing::TempDir tmp(tag);
  const auto limit = std::chrono::seconds(120);
  auto ref_out = testing::run_ranks(
      {kReference}, [&](int r) { return run_process(g, plan, 1, 0, r, tmp.path()); }, limit);
  ASSERT_TRUE(ref_out[0].ok) << "reference: " << ref_out[0].text;
  const Run ref = parse(ref_out[0], plan.size(), tmp.path());

  const int port = testing::free_port();
  std::vector<int> ranks;
  for (int r = 0; r < world; ++r) ranks.push_back(r);
  const auto out = testing::run_ranks(
      ranks, [&](int r) { return run_process(g, plan, world, port, r, tmp.path()); }, limit);
  double worst_loss = 0;
  for (const RankOutcome& o : out) {
    ASSERT_TRUE(o.ok) << "rank " << o.rank << ": " << o.text;
    const Run run = parse(o, plan.size(), tmp.path());
    for (size_t s = 0; s < plan.size(); ++s) {
      EXPECT_EQ(run.tokens[s], ref.tokens[s]) << "rank " << o.rank << " step " << s + 1;
      const double rel =
          ref.losses[s] == 0 ? std::fabs(run.losses[s]) : std::fabs(run.losses[s] - ref.losses[s]) / ref.losses[s];
      EXPECT_LT(rel, 1e-5) << "rank " << o.rank << " step " << s + 1 << ": " << run.losses[s] << " vs "
                           << ref.losses[s];
      worst_loss = std::max(worst_loss, rel);
    }
    ASSERT_EQ(run.weights.size(), ref.weights.size());
    EXPECT_LT(testing::rel_err(run.weights, ref.weights), 1e-5) << "rank " << o.rank;
    EXPECT_EQ(run.fingerprint, parse(out[0], plan.size(), tmp.path()).fingerprint)
        << "rank " << o.rank << " ends with other weights than rank 0";
    if (o.rank == 0)
      std::printf("[%s] %d ranks, %zu steps: worst loss rel %.3g, final LoRA weights rel %.3g\n", tag, world,
                  plan.size(), worst_loss, testing::rel_err(run.weights, ref.weights));
  }
  // The weights moved: a run that changed nothing would match trivially.
  const Golden init("llama");
  const auto m0 = init.load();
  std::vector<float> w0;
  for (const LoraParam& p : m0->lora_params()) w0.insert(w0.end(), p.value.begin(), p.value.end());
  EXPECT_GT(testing::rel_err(ref.weights, w0), 1e-4);
}

TEST(TrainDataParallel, TwoRanksOnHalfTheBatchMatchOneProcessOnAllOfIt) {
  // Every step: rank 0 takes row 0, rank 1 row 1; the reference both rows as two micro-batches.
  const Plan plan(5, {{0}, {1}});
  expect_group_matches_one_process(plan, 2, "dp2");
}

TEST(TrainDataParallel, ThreeRanksWithEmptyMicroBatchListsMatchOneProcess) {
  const Plan plan = {
      {{0}, {1}, {}},    // rank 2 has nothing
      {{}, {0, 1}, {}},  // one rank has everything (two micro-batches)
      {{1}, {}, {0}},    // the rows in another order across the ranks
      {{}, {}, {}},      // no rank has anything: a step of no tokens (only the step count moves)
      {{0}, {}, {1}},
  };
  expect_group_matches_one_process(plan, 3, "dp3");
}

TEST(TrainDataParallel, AGroupStepOfTwoToThe24TokensIsRefusedOnEveryRank) {
  if (!collective_compiled("gloo")) GTEST_SKIP() << "built without Gloo (install libgloo-dev)";
  const Golden g("llama");
  const int port = testing::free_port();
  const auto out = testing::run_ranks(
      {0, 1},
      [&](int rank) -> std::string {
#ifdef _OPENMP
        omp_set_num_threads(1);
#endif
        const auto m = g.load();
        Trainer tr(*m, optim(1));
        CollectiveConfig c;
        c.rank = rank;
        c.world_size = 2;
        c.master_addr = "127.0.0.1";
        c.master_port = port;
        c.join_timeout = c.op_timeout = std::chrono::seconds(30);
        const auto group = make_collective(m->backend(), c);
        Batch big;  // 2^23 + 1 positions: 2^23 shifted label tokens per rank, 2^24 in the group
        big.B = 1;
        big.T = (1 << 23) + 1;
        big.input_ids.assign(static_cast<size_t>(big.T), 1);
        big.labels.assign(static_cast<size_t>(big.T), 1);
        try {
          tr.step({big}, group.get());
        } catch (const Error& e) {
          return std::string(e.what()) + " | steps done " + std::to_string(tr.steps_done());
        }
        return std::string("no error");
      },
      std::chrono::seconds(60));
  for (const RankOutcome& o : out) {
    ASSERT_TRUE(o.ok) << "rank " << o.rank << ": " << o.text;
    EXPECT_NE(o.text.find("at most 2^24 - 1 = 16777215"), std::string::npos) << "rank " << o.rank << ": " << o.text;
    EXPECT_NE(o.text.find("steps done 0"), std::string::npos) << "rank " << o.rank << ": " << o.text;
  }
}

TEST(TrainDataParallel, AnEmptyStepOutsideAGroupIsRefused) {
  const Golden g("llama");
  const auto m = g.load();
  Trainer tr(*m, optim(1));
  EXPECT_THROW(tr.step({}), Error);
  const auto single = make_single_collective();
  const StepStats s = tr.step({}, single.get());  // a group of one: a step of no tokens
  EXPECT_EQ(s.tokens, 0);
  EXPECT_EQ(s.step, 1);
}

}  // namespace
}  // namespace lp
