// Trainer against the goldens' 20-step curves (AdamW lr 1e-3, wd 0.01, linear schedule with 2 warmup
// steps, clip 1.0, two micro-batches = the two rows), the final adapter after those steps, the lr
// schedules, and resuming from a saved optimizer state.
#include <gtest/gtest.h>

#include <cmath>

#include "adapter/peft.h"
#include "model_test_util.h"
#include "train/schedule.h"
#include "train/trainer.h"

namespace lp {
namespace {

using testing::Golden;

OptimConfig golden_optim(const Golden& g) {
  const Json& t = g.meta.at("train");
  OptimConfig c;
  c.lr = t.at("lr").as_double();
  c.beta1 = t.at("betas")[0].as_double();
  c.beta2 = t.at("betas")[1].as_double();
  c.eps = t.at("eps").as_double();
  c.weight_decay = t.at("weight_decay").as_double();
  c.max_grad_norm = t.at("max_grad_norm").as_double();
  c.schedule = LrSchedule::Linear;
  c.warmup_steps = static_cast<int>(t.at("warmup_steps").as_int());
  c.total_steps = static_cast<int>(t.at("total_steps").as_int());
  return c;
}

TEST(TrainSchedule, LinearWithWarmupMatchesTransformers) {
  // get_linear_schedule_with_warmup(warmup 2, total 20) at base 1e-3: 0, 5e-4, 1e-3, then (20 - s) / 18.
  EXPECT_EQ(lr_at(LrSchedule::Linear, 1e-3, 0, 2, 20), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Linear, 1e-3, 1, 2, 20), 5e-4);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Linear, 1e-3, 2, 2, 20), 1e-3);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Linear, 1e-3, 3, 2, 20), 1e-3 * 17 / 18);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Linear, 1e-3, 19, 2, 20), 1e-3 / 18);
  EXPECT_EQ(lr_at(LrSchedule::Linear, 1e-3, 25, 2, 20), 0.0);
}

TEST(TrainSchedule, CosineAndConstant) {
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Cosine, 2e-4, 0, 0, 100), 2e-4);
  EXPECT_NEAR(lr_at(LrSchedule::Cosine, 2e-4, 50, 0, 100), 1e-4, 1e-18);
  EXPECT_NEAR(lr_at(LrSchedule::Cosine, 2e-4, 100, 0, 100), 0.0, 1e-20);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Cosine, 2e-4, 5, 10, 100), 1e-4);
  EXPECT_NEAR(lr_at(LrSchedule::Cosine, 1.0, 40, 10, 100), 0.5 * (1 + std::cos(M_PI * 30 / 90)), 1e-15);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Constant, 3e-4, 0, 0, 10), 3e-4);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Constant, 3e-4, 1, 4, 10), 3e-4 / 4);
  EXPECT_DOUBLE_EQ(lr_at(LrSchedule::Constant, 3e-4, 9, 4, 10), 3e-4);
  EXPECT_EQ(parse_lr_schedule("constant_with_warmup"), LrSchedule::Constant);
  EXPECT_THROW(parse_lr_schedule("polynomial"), Error);
}

class TrainGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(TrainGolden, TwentyStepCurveAndFinalAdapterMatchPyTorch) {
  const Golden g(GetParam());
  const auto m = g.load();
  Trainer tr(*m, golden_optim(g));
  const Json curve = read_json_file(g.dir + "/curve.json");
  const Json::Array& steps = curve.at("steps").as_array();
  ASSERT_EQ(steps.size(), 20u);
  double worst_loss = 0, worst_norm = 0;
  for (const Json& ref : steps) {
    const StepStats s = tr.step(g.micro);
    EXPECT_EQ(s.step, ref.at("step").as_int());
    EXPECT_EQ(s.tokens, curve.at("num_items_in_batch").as_int());
    EXPECT_NEAR(s.lr, ref.at("lr").as_double(), 1e-12) << "step " << s.step;
    const double dl = std::fabs(s.loss - ref.at("loss").as_double());
    const double dn = std::fabs(s.grad_norm - ref.at("grad_norm").as_double()) / ref.at("grad_norm").as_double();
    EXPECT_LT(dl, 1e-3) << "step " << s.step;
    EXPECT_LT(dn, 1e-3) << "step " << s.step;
    worst_loss = std::max(worst_loss, dl);
    worst_norm = std::max(worst_norm, dn);
  }
  EXPECT_EQ(tr.steps_done(), 20);

  testing::TempDir tmp(std::string("final_") + GetParam());
  save_peft_adapter(*m, tmp.path(), "model");
  const SafetensorsFile ours(tmp / "adapter_model.safetensors"),
      ref(g.dir + "/final_adapter/adapter_model.safetensors");
  EXPECT_EQ(ours.names(), ref.names());
  EXPECT_EQ(ours.metadata(), ref.metadata());
  double worst_abs = 0, worst_rel = 0;
  for (const std::string& name : ref.names()) {
    ASSERT_TRUE(ours.contains(name)) << name;
    EXPECT_EQ(ours.get(name).shape, ref.get(name).shape) << name;
    const std::vector<float> a = to_float32(ours.get(name)), b = to_float32(ref.get(name));
    for (size_t i = 0; i < a.size(); ++i) worst_abs = std::max(worst_abs, static_cast<double>(std::fabs(a[i] - b[i])));
    worst_rel = std::max(worst_rel, testing::rel_err(a, b));
  }
  EXPECT_LT(worst_abs, 1e-4);
  const Json oc = read_json_file(tmp / "adapter_config.json"),
             rc = read_json_file(g.dir + "/final_adapter/adapter_config.json");
  std::vector<std::string> ok, rk;
  for (const auto& kv : oc.items()) ok.push_back(kv.first);
  for (const auto& kv : rc.items()) rk.push_back(kv.first);
  EXPECT_EQ(ok, rk);
  std::printf("[%s] curve: worst |loss diff| %.3g, worst grad_norm rel %.3g; final adapter: worst abs %.3g, rel %.3g\n",
              g.name.c_str(), worst_loss, worst_norm, worst_abs, worst_rel);
}

TEST_P(TrainGolden, ResumeFromSavedStateContinuesTheSameRun) {
  const Golden g(GetParam());
  const OptimConfig cfg = golden_optim(g);
  const auto straight = g.load();
  Trainer a(*straight, cfg);
  for (int i = 0; i < 6; ++i) a.step(g.micro);

  const auto first = g.load();
  Trainer b(*first, cfg);
  for (int i = 0; i < 3; ++i) b.step(g.micro);
  testing::TempDir tmp(std::string("resume_") + GetParam());
  save_peft_adapter(*first, tmp / "adapter", "model");
  b.save_state(tmp / "optimizer.safetensors");

  const auto resumed = LlamaModel::load(g.dir + "/model", g.opts);
  load_peft_adapter(*resumed, tmp / "adapter");
  OptimConfig other = cfg;
  other.lr = 5.0;  // replaced by the saved config
  Trainer c(*resumed, other);
  c.load_state(tmp / "optimizer.safetensors");
  EXPECT_EQ(c.steps_done(), 3);
  EXPECT_EQ(c.config().lr, cfg.lr);
  for (int i = 0; i < 3; ++i) c.step(g.micro);
  for (size_t i = 0; i < straight->lora_params().size(); ++i)
    EXPECT_EQ(straight->lora_params()[i].value, resumed->lora_params()[i].value) << straight->lora_params()[i].name;
}

TEST(TrainResume, WithDropoutDrawsTheMasksOfTheUninterruptedRun) {
  Golden g("llama");
  g.opts.lora.dropout = 0.1f;
  const OptimConfig cfg = golden_optim(g);
  const auto straight = g.load();
  Trainer a(*straight, cfg);
  for (int i = 0; i < 4; ++i) a.step(g.micro);

  const auto first = g.load();
  Trainer b(*first, cfg);
  for (int i = 0; i < 2; ++i) b.step(g.micro);
  testing::TempDir tmp("resume_dropout");
  save_peft_adapter(*first, tmp / "adapter", "model");
  b.save_state(tmp / "optimizer.safetensors");

  const auto resumed = LlamaModel::load(g.dir + "/model", g.opts);
  load_peft_adapter(*resumed, tmp / "adapter");
  Trainer c(*resumed, cfg);
  c.load_state(tmp / "optimizer.safetensors");
  for (int i = 0; i < 2; ++i) c.step(g.micro);
  for (size_t i = 0; i < straight->lora_params().size(); ++i)
    EXPECT_EQ(straight->lora_params()[i].value, resumed->lora_params()[i].value) << straight->lora_params()[i].name;
}

INSTANTIATE_TEST_SUITE_P(Train, TrainGolden, ::testing::ValuesIn(testing::kGoldenCases), testing::case_name);

TEST(TrainStep, LossIsNormalisedOverAllMicroBatches) {
  // One step over both rows as two micro-batches equals one step over the two-row batch.
  const Golden g("llama");
  const auto a = g.load();
  const auto b = g.load();
  Trainer ta(*a, golden_optim(g)), tb(*b, golden_optim(g));
  for (int i = 0; i < 3; ++i) {
    const StepStats sa = ta.step(g.micro), sb = tb.step({g.batch});
    EXPECT_NEAR(sa.loss, sb.loss, 1e-6);
    EXPECT_NEAR(sa.grad_norm, sb.grad_norm, 1e-5 * sb.grad_norm);
  }
  for (size_t i = 0; i < a->lora_params().size(); ++i)
    EXPECT_LT(testing::rel_err(a->lora_params()[i].value, b->lora_params()[i].value), 1e-5);
}

TEST(TrainStep, DropoutChangesTheLossAndIsReproducible) {
  const Golden g("llama");
  LoadOptions o = g.opts;
  o.lora.dropout = 0.3f;
  const auto a = g.load(o), b = g.load(o);
  OptimConfig c = golden_optim(g);
  c.warmup_steps = 0;
  Trainer ta(*a, c), tb(*b, c);
  for (int i = 0; i < 3; ++i) {
    const StepStats sa = ta.step(g.micro), sb = tb.step(g.micro);
    EXPECT_EQ(sa.loss, sb.loss);
  }
  // Evaluation has no dropout: it equals a model without dropout holding the same weights.
  const auto nodrop = g.load();
  for (size_t i = 0; i < a->lora_params().size(); ++i) nodrop->lora_params()[i].value = a->lora_params()[i].value;
  EXPECT_EQ(a->evaluate(g.batch).loss_sum, nodrop->evaluate(g.batch).loss_sum);
  // Checkpointing replays the masks: grads equal those of a model that keeps every activation.
  LoadOptions keep = o;
  keep.activation_checkpointing = false;
  const auto k = g.load(keep);
  const auto d = g.load(o);
  const float scale = 1.f / 23;
  d->forward_backward(g.batch, scale);
  k->forward_backward(g.batch, scale);
  for (size_t i = 0; i < d->lora_params().size(); ++i) EXPECT_EQ(d->lora_params()[i].grad, k->lora_params()[i].grad);
}

TEST(TrainStep, BadStateFileIsRejected) {
  const Golden g("llama");
  const auto m = g.load();
  Trainer t(*m, golden_optim(g));
  EXPECT_THROW(t.load_state(g.dir + "/lora_init.safetensors"), Error);
}

}  // namespace
}  // namespace lp
