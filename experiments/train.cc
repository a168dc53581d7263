#include "experiments/train.h"

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
    torch::optim::Adam optimizer(params, torch::optim::AdamOptions(options.lr));
    const int64_t n = data.train_x.size(0);
    const int64_t batch = std::max<int64_t>(1, options.batch_size);
    const bool kd = options.teacher_logits.defined();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
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
        std::shared_ptr<void> cpu = ctx.cpu_guard ? ctx.cpu_guard(false) : nullptr;
        if (options.hooks.before_forward) options.hooks.before_forward(step);
        optimizer.zero_grad();
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
        optimizer.step();
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
