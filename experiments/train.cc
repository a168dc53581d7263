#include "experiments/train.h"

#include <cmath>
#include <memory>

#include <ATen/CPUGeneratorImpl.h>

namespace compsweep::experiments {

torch::Tensor KdLoss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                     const torch::Tensor& labels, double temperature, double alpha) {
  torch::Tensor hard = torch::nn::functional::cross_entropy(student_logits, labels);
  if (alpha == 0.0) return hard;
  torch::Tensor log_ps = torch::log_softmax(student_logits / temperature, 1);
  torch::Tensor log_pt = torch::log_softmax(teacher_logits / temperature, 1);
  torch::Tensor kl = (log_pt.exp() * (log_pt - log_ps)).sum(1).mean();
  return (1.0 - alpha) * hard + alpha * temperature * temperature * kl;
}

Result<TrainRecipe> RecipeFromJson(const nlohmann::json& section) {
  TrainRecipe r;
  const std::string schedule = section.value("lr_schedule", std::string("cosine"));
  if (schedule != "cosine" && schedule != "constant") {
    return InvalidArgument("lr_schedule must be cosine or constant, got " + schedule);
  }
  r.cosine = schedule == "cosine";
  r.weight_decay = section.value("weight_decay", 0.0);
  if (!(r.weight_decay >= 0)) return InvalidArgument("weight_decay must be >= 0");
  const std::string augment = section.value("augment", std::string("none"));
  if (augment == "shift" || augment == "shift-flip") {
    r.augment_shift = 2;
    r.augment_flip = augment == "shift-flip";
  } else if (augment != "none") {
    return InvalidArgument("augment must be none, shift or shift-flip, got " + augment);
  }
  return r;
}

double ScheduledLr(const TrainRecipe& recipe, double lr, int64_t step, int64_t steps) {
  if (!recipe.cosine || steps <= 0) return lr;
  const double t = static_cast<double>(std::min(step, steps)) / static_cast<double>(steps);
  return lr * 0.5 * (1.0 + std::cos(M_PI * t));
}

torch::Tensor AugmentImages(const torch::Tensor& x, const TrainRecipe& recipe, double pad_value,
                            at::Generator& gen) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const auto dev = x.device();
  const auto as_long = torch::TensorOptions(torch::kInt64);
  torch::Tensor out = x;
  const int64_t s = recipe.augment_shift;
  if (s > 0) {
    torch::Tensor padded = torch::constant_pad_nd(x, {s, s, s, s}, pad_value);
    torch::Tensor oy = at::randint(0, 2 * s + 1, {b, 1}, gen, as_long).to(dev);
    torch::Tensor ox = at::randint(0, 2 * s + 1, {b, 1}, gen, as_long).to(dev);
    torch::Tensor rows = (oy + torch::arange(h, as_long.device(dev)).view({1, h}))
                             .view({b, 1, h, 1})
                             .expand({b, c, h, w + 2 * s});
    torch::Tensor cols = (ox + torch::arange(w, as_long.device(dev)).view({1, w}))
                             .view({b, 1, 1, w})
                             .expand({b, c, h, w});
    out = padded.gather(2, rows).gather(3, cols);
  }
  if (recipe.augment_flip) {
    torch::Tensor flip = at::randint(0, 2, {b, 1, 1, 1}, gen, as_long).to(dev).to(torch::kBool);
    out = torch::where(flip, out.flip({3}), out);
  }
  return out;
}

int64_t StepsPerEpoch(int64_t num_samples, int64_t batch_size) {
  return (num_samples + batch_size - 1) / batch_size;
}

Status Train(Model& model, const Dataset& data, const TrainOptions& options,
             const RunContext& ctx) {
  try {
    model.SetTraining(true);
    std::vector<torch::Tensor> params;
    for (auto& [name, p] : model.NamedParameters()) {
      if (p.requires_grad()) params.push_back(p);
    }
    const TrainRecipe& recipe = options.recipe;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    if (recipe.weight_decay > 0) {
      optimizer = std::make_unique<torch::optim::AdamW>(
          params, torch::optim::AdamWOptions(options.lr).weight_decay(recipe.weight_decay));
    } else {
      optimizer =
          std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(options.lr));
    }
    const int64_t n = data.train_x.size(0);
    const int64_t batch = std::max<int64_t>(1, options.batch_size);
    const bool kd = options.teacher_logits.defined();
    const bool augment = recipe.augment_shift > 0 || recipe.augment_flip;
    if (augment && (data.train_x.dim() != 4 || !data.train_x.is_floating_point())) {
      std::string shape;
      for (int64_t d : data.train_x.sizes())
        shape += (shape.empty() ? "" : ", ") + std::to_string(d);
      return InvalidArgument(options.phase + ": augment needs images [N, C, H, W]; this data is [" +
                             shape + "] (set augment: none)");
    }
    const double pad_value = augment && n > 0 ? data.train_x.min().item<double>() : 0.0;
    const int64_t total_steps = options.epochs * StepsPerEpoch(n, batch);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
    // Its own stream, so that augmenting leaves the batch order unchanged.
    auto augment_gen = at::make_generator<at::CPUGeneratorImpl>(options.seed * 2654435761ULL + 1);
    const auto device = data.train_x.device();
    torch::Tensor xb = torch::empty({0}, data.train_x.options());
    torch::Tensor yb = torch::empty({0}, data.train_y.options());
    int64_t step = 0;
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
      torch::Tensor perm = at::randperm(n, gen, torch::kInt64).to(device);
      torch::Tensor loss_sum = torch::zeros({}, data.train_x.options());
      int64_t batches = 0;
      for (int64_t start = 0; start < n; start += batch, ++step) {
        if (ctx.cancelled && ctx.cancelled()) return Cancelled("cancelled during " + options.phase);
        const int64_t len = std::min(batch, n - start);
        torch::Tensor idx = perm.narrow(0, start, len);
        // Full batches reuse the buffers; the short last batch gets its own.
        const bool full = len == batch;
        if (full) {
          torch::index_select_out(xb, data.train_x, 0, idx);
          torch::index_select_out(yb, data.train_y, 0, idx);
        }
        torch::Tensor x = full ? xb : data.train_x.index_select(0, idx);
        torch::Tensor y = full ? yb : data.train_y.index_select(0, idx);
        if (augment) x = AugmentImages(x, recipe, pad_value, augment_gen);
        if (recipe.cosine) {
          const double lr = ScheduledLr(recipe, options.lr, step, total_steps);
          for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
        }
        std::shared_ptr<void> cpu = ctx.cpu_guard ? ctx.cpu_guard(false) : nullptr;
        if (options.hooks.before_forward) options.hooks.before_forward(step);
        optimizer->zero_grad();
        torch::Tensor logits = model.Forward(x);
        torch::Tensor loss;
        if (kd) {
          torch::Tensor t = options.teacher_logits.index_select(0, idx);
          loss = KdLoss(logits, t, y, options.temperature, options.alpha);
        } else {
          loss = torch::nn::functional::cross_entropy(logits, y);
        }
        loss.backward();
        if (options.hooks.before_optimizer_step) options.hooks.before_optimizer_step();
        optimizer->step();
        if (options.hooks.after_step) options.hooks.after_step();
        loss_sum += loss.detach();
        ++batches;
      }
      if (ctx.on_progress) {
        ctx.on_progress({{"phase", options.phase},
                         {"epoch", epoch + 1},
                         {"epochs", options.epochs},
                         {"step", step},
                         {"loss", loss_sum.item<double>() / std::max<int64_t>(1, batches)}});
      }
      if (ctx.on_epoch_end) {
        ctx.on_epoch_end();
        model.SetTraining(true);
      }
    }
  } catch (const c10::Error& e) {
    return Internal(options.phase + ": " + e.what_without_backtrace());
  }
  return Status::Ok();
}

EvalResult Evaluate(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                    int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model.SetTraining(false);
  const int64_t n = x.size(0);
  torch::Tensor correct = torch::zeros({}, torch::TensorOptions(torch::kInt64).device(x.device()));
  torch::Tensor loss = torch::zeros({}, x.options());
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    torch::Tensor logits = model.Forward(x.narrow(0, start, len));
    torch::Tensor yb = y.narrow(0, start, len);
    loss += torch::nn::functional::cross_entropy(
        logits, yb, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    correct += logits.argmax(1).eq(yb).sum();
  }
  EvalResult r;
  if (n > 0) {
    r.accuracy = static_cast<double>(correct.item<int64_t>()) / n;
    r.loss = loss.item<double>() / n;
  }
  return r;
}

torch::Tensor PredictLogits(Model& model, const torch::Tensor& x, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model.SetTraining(false);
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < x.size(0); start += batch_size) {
    parts.push_back(model.Forward(x.narrow(0, start, std::min(batch_size, x.size(0) - start))));
  }
  return torch::cat(parts, 0);
}

}  // namespace compsweep::experiments
