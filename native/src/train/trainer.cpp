// train/trainer.cpp: gradient accumulation, clipping, AdamW and the optimizer-state file (see trainer.h).
#include "train/trainer.h"

#include <cstdlib>

#include "core/check.h"
#include "core/json.h"
#include "core/safetensors.h"

namespace lp {

namespace {

void check_config(const OptimConfig& c) {
  LP_CHECK(c.lr >= 0, "optimizer lr must not be negative, got " << c.lr);
  LP_CHECK(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1,
           "optimizer betas must lie in [0, 1), got (" << c.beta1 << ", " << c.beta2 << ")");
  LP_CHECK(c.eps > 0, "optimizer eps must be positive, got " << c.eps);
  LP_CHECK(c.weight_decay >= 0, "optimizer weight_decay must not be negative, got " << c.weight_decay);
  LP_CHECK(c.total_steps >= 1, "optimizer total_steps must be at least 1, got " << c.total_steps);
  LP_CHECK(c.warmup_steps >= 0, "optimizer warmup_steps must not be negative, got " << c.warmup_steps);
}

}  // namespace

Trainer::Trainer(LlamaModel& model, OptimConfig config) : model_(model), config_(config) {
  check_config(config_);
  for (const LoraParam& p : model_.lora_params()) {
    for (auto* state : {&m_, &v_}) {
      state->emplace_back(&model_.backend());
      state->back().resize(p.value.size());  // zeroed
    }
  }
}

int Trainer::steps_done() const { return step_; }
const OptimConfig& Trainer::config() const { return config_; }

StepStats Trainer::step(const std::vector<Batch>& micro_batches) { return step(micro_batches, nullptr); }

namespace {

// A float sum of counts is exact below 2^24 (and, summing non-negative counts, a true sum of 2^24 or more
// comes out at 2^24 or more): a group's step carries fewer tokens than this.
constexpr double kGroupTokenLimit = 16777216.0;

// x as two floats (hi, lo) whose sum is x to ~2^-48 relative: a loss sum through a float all-reduce then
// carries one float rounding of the sum of the ranks' hi parts instead of one per rank as well.
void split_double(double x, float* hi_lo) {
  hi_lo[0] = static_cast<float>(x);
  hi_lo[1] = static_cast<float>(x - static_cast<double>(hi_lo[0]));
}

}  // namespace

StepStats Trainer::step(const std::vector<Batch>& micro_batches, Collective* group) {
  LP_CHECK(group || !micro_batches.empty(),
           "Trainer::step needs at least one micro-batch (an empty list only on a rank of a data-parallel group)");
  if (group && group->world_size() == 1) group = nullptr;  // nothing to exchange
  Backend& be = model_.backend();
  be.reset_peak();
  // transformers' num_items_in_batch: every micro-batch's CE sum is divided by the step's valid tokens.
  int64_t tokens = 0;
  for (const Batch& b : micro_batches) tokens += count_loss_tokens(b);
  if (group) {
    // Summed before the backward: each rank scales its gradients by 1 / the global count.
    float t = static_cast<float>(tokens);
    all_reduce_sum_host(*group, be, &t, 1);
    LP_CHECK(static_cast<double>(t) < kGroupTokenLimit,
             "Trainer::step: the group's step holds "
                 << static_cast<double>(t)
                 << " or more label tokens, at most 2^24 - 1 = " << static_cast<int64_t>(kGroupTokenLimit) - 1
                 << " fit (the ranks sum the count as a float, exact below 2^24); "
                    "use fewer tokens per optimizer step");
    tokens = static_cast<int64_t>(t);
  }
  const double lr = lr_at(config_.schedule, config_.lr, step_, config_.warmup_steps, config_.total_steps);
  StepStats s{0.0, 0.0, lr, tokens, step_ + 1, 0};
  ++step_;
  if (tokens == 0) return s;  // on every rank of a group alike: the count is global

  model_.zero_grad();
  const float grad_scale = static_cast<float>(1.0 / static_cast<double>(tokens));
  double loss_sum = 0;
  for (const Batch& b : micro_batches) loss_sum += model_.forward_backward(b, grad_scale).loss_sum;

  const LlamaModel::LoraTensors t = model_.lora_tensors();
  LP_CHECK(t.value.size() == m_.size(),
           "the model has " << t.value.size() << " LoRA tensors but the optimizer state has " << m_.size());
  if (group) loss_sum = reduce_gradients(*group, t, loss_sum);
  s.loss = loss_sum / static_cast<double>(tokens);

  const int count = static_cast<int>(t.grad.size());
  s.grad_norm = config_.max_grad_norm > 0
                    ? be.clip_grad_norm(t.grad.data(), t.size.data(), count, config_.max_grad_norm)
                    : be.grad_global_norm(t.grad.data(), t.size.data(), count);
  for (size_t i = 0; i < t.value.size(); ++i)
    be.adamw_step(t.value[i], t.grad[i], m_[i].data(), v_[i].data(), t.size[i], step_, lr, config_.beta1, config_.beta2,
                  config_.eps, config_.weight_decay);
  s.peak_memory_bytes = be.memory().peak;
  return s;
}

// One all-reduce of every LoRA gradient and the loss sum, packed into one flat buffer in the memory the
// collective works on (the backend's when that is the collective's: host for cpu + gloo, the device
// for cuda + nccl; else staged through the host). Returns the group's loss sum.
double Trainer::reduce_gradients(Collective& group, const LlamaModel::LoraTensors& t, double loss_sum) {
  Backend& be = model_.backend();
  size_t n = 0;
  for (int64_t sz : t.size) n += static_cast<size_t>(sz);
  float loss_parts[2];
  split_double(loss_sum, loss_parts);
  const bool in_backend = be.host_visible() || collective_uses_device_memory(group);
  if (in_backend) {
    flat_.bind(&be);
    flat_.resize(n + 2);
    size_t off = 0;
    for (size_t i = 0; i < t.grad.size(); ++i) {
      be.copy(flat_.data() + off, t.grad[i], static_cast<size_t>(t.size[i]) * sizeof(float));
      off += static_cast<size_t>(t.size[i]);
    }
    be.to_device(flat_.data() + n, loss_parts, sizeof loss_parts);
    group.all_reduce_sum(flat_.data(), n + 2);
    off = 0;
    for (size_t i = 0; i < t.grad.size(); ++i) {
      be.copy(t.grad[i], flat_.data() + off, static_cast<size_t>(t.size[i]) * sizeof(float));
      off += static_cast<size_t>(t.size[i]);
    }
    be.to_host(loss_parts, flat_.data() + n, sizeof loss_parts);
  } else {
    flat_host_.resize(n + 2);
    size_t off = 0;
    for (size_t i = 0; i < t.grad.size(); ++i) {
      be.to_host(flat_host_.data() + off, t.grad[i], static_cast<size_t>(t.size[i]) * sizeof(float));
      off += static_cast<size_t>(t.size[i]);
    }
    flat_host_[n] = loss_parts[0];
    flat_host_[n + 1] = loss_parts[1];
    group.all_reduce_sum(flat_host_.data(), n + 2);
    off = 0;
    for (size_t i = 0; i < t.grad.size(); ++i) {
      be.to_device(t.grad[i], flat_host_.data() + off, static_cast<size_t>(t.size[i]) * sizeof(float));
      off += static_cast<size_t>(t.size[i]);
    }
    loss_parts[0] = flat_host_[n];
    loss_parts[1] = flat_host_[n + 1];
  }
  return static_cast<double>(loss_parts[0]) + static_cast<double>(loss_parts[1]);
}

void Trainer::save_state(const std::string& path) const {
  const std::vector<LoraParam>& params = model_.lora_params();
  std::vector<std::vector<float>> host;  // m and v of every tensor, copied out of the backend
  for (size_t i = 0; i < params.size(); ++i) {
    host.push_back(m_[i].to_vector());
    host.push_back(v_[i].to_vector());
  }
  std::vector<TensorView> views;
  for (size_t i = 0; i < params.size(); ++i) {
    for (const auto& [prefix, buf] :
         {std::pair<const char*, const std::vector<float>*>{"exp_avg.", &host[2 * i]},
          std::pair<const char*, const std::vector<float>*>{"exp_avg_sq.", &host[2 * i + 1]}}) {
      TensorView t;
      t.name = prefix + params[i].name;
      t.dtype = DType::F32;
      t.shape = params[i].shape;
      t.data = reinterpret_cast<const uint8_t*>(buf->data());
      t.nbytes = buf->size() * sizeof(float);
      views.push_back(std::move(t));
    }
  }
  Json cfg = Json::object();
  cfg.set("lr", config_.lr);
  cfg.set("beta1", config_.beta1);
  cfg.set("beta2", config_.beta2);
  cfg.set("eps", config_.eps);
  cfg.set("weight_decay", config_.weight_decay);
  cfg.set("max_grad_norm", config_.max_grad_norm);
  cfg.set("schedule", lr_schedule_name(config_.schedule));
  cfg.set("warmup_steps", config_.warmup_steps);
  cfg.set("total_steps", config_.total_steps);
  write_safetensors(path, views,
                    {{"format", "loraplane-optimizer"},
                     {"step", std::to_string(step_)},
                     {"dropout_calls", std::to_string(model_.dropout_calls())},
                     {"config", cfg.dump()}});
}

void Trainer::load_state(const std::string& path) {
  const SafetensorsFile f(path);
  const auto& meta = f.metadata();
  const auto fmt = meta.find("format");
  LP_CHECK(fmt != meta.end() && fmt->second == "loraplane-optimizer",
           path << ": not a loraplane optimizer state (metadata \"format\" is not \"loraplane-optimizer\")");
  const auto st = meta.find("step");
  const auto cf = meta.find("config");
  LP_CHECK(st != meta.end() && cf != meta.end(), path << ": optimizer state lacks the \"step\" or \"config\" metadata");
  char* end = nullptr;
  const long step = std::strtol(st->second.c_str(), &end, 10);
  LP_CHECK(end && *end == '\0' && step >= 0,
           path << ": metadata \"step\" is \"" << st->second << "\", expected an integer >= 0");
  const Json cfg = Json::parse(cf->second, path + " metadata \"config\"");
  const auto dc = meta.find("dropout_calls");
  const uint64_t dropout_calls = dc == meta.end() ? 0 : std::strtoull(dc->second.c_str(), nullptr, 10);
  OptimConfig c;
  c.lr = cfg.at("lr").as_double();
  c.beta1 = cfg.at("beta1").as_double();
  c.beta2 = cfg.at("beta2").as_double();
  c.eps = cfg.at("eps").as_double();
  c.weight_decay = cfg.at("weight_decay").as_double();
  c.max_grad_norm = cfg.at("max_grad_norm").as_double();
  c.schedule = parse_lr_schedule(cfg.at("schedule").as_string());
  c.warmup_steps = static_cast<int>(cfg.at("warmup_steps").as_int());
  c.total_steps = static_cast<int>(cfg.at("total_steps").as_int());
  check_config(c);

  const std::vector<LoraParam>& params = model_.lora_params();
  LP_CHECK(f.tensors().size() == 2 * params.size(), path << ": holds " << f.tensors().size() << " tensors, expected "
                                                         << 2 * params.size() << " (exp_avg and exp_avg_sq of "
                                                         << params.size() << " LoRA tensors)");
  std::vector<std::vector<float>> m, v;
  for (const LoraParam& p : params) {
    for (auto* dst : {&m, &v}) {
      const TensorView& t = f.get((dst == &m ? "exp_avg." : "exp_avg_sq.") + p.name);
      check_tensor(t, DType::F32, p.shape);
      dst->push_back(to_float32(t));
    }
  }
  for (size_t i = 0; i < params.size(); ++i) {  // every tensor was checked: nothing changes on a bad file
    m_[i].upload(m[i]);
    v_[i].upload(v[i]);
  }
  step_ = static_cast<int>(step);
  config_ = c;
  model_.set_dropout_calls(dropout_calls);
}

}  // namespace lp
