// Human names for compsweep's fixed metric names (ARCHITECTURE.md, "Metric
// names") and the sweep parameters of the built-in pipeline (values are
// formatted in format.js). Pure functions: usable from the page and from node
// (tests).

const METRICS = {
  accuracy: 'Accuracy',
  val_accuracy: 'Validation accuracy',
  test_accuracy: 'Test accuracy',
  loss: 'Loss',
  val_loss: 'Validation loss',
  test_loss: 'Test loss',
  size_bytes: 'Size',
  dense_size_bytes: 'Dense size',
  compression_ratio: 'Compression',
  params: 'Parameters',
  nonzero_params: 'Non-zero parameters',
  sparsity: 'Measured sparsity',
  macs: 'MACs',
  effective_macs: 'Effective MACs',
  latency_ms: 'Latency',
  float_latency_ms: 'Float latency',
  throughput: 'Throughput',
  train_seconds: 'Training time',
  wall_seconds: 'Wall time',
  accuracy_drop: 'Accuracy drop',
  int8_val_accuracy: 'Int8 validation accuracy',
  int8_test_accuracy: 'Int8 test accuracy',
  int8_val_loss: 'Int8 validation loss',
  int8_test_loss: 'Int8 test loss',
  fakequant_val_accuracy: 'Validation accuracy, float emulation (simulated)',
  fakequant_test_accuracy: 'Test accuracy, float emulation (simulated)',
  deploy_size_bytes_torchscript: 'TorchScript file size',
  deploy_size_bytes_onnx: 'ONNX file size',
  deploy_int8: 'Deployed as int8',
  latency_ms_torchscript: 'TorchScript latency',
  stopped_at_epoch: 'Stopped at epoch',
};

const PARAMS = {
  'distill.temperature': 'Temperature',
  'distill.alpha': 'Distillation weight α',
  'distill.epochs': 'Distillation epochs',
  'distill.lr': 'Distillation learning rate',
  'prune.final_sparsity': 'Target sparsity',
  'prune.schedule': 'Pruning schedule',
  'prune.finetune_epochs': 'Fine-tune epochs',
  'prune.granularity': 'Pruning granularity',
  'quantize.bits': 'Bits',
  'quantize.scheme': 'Quantization scheme',
  'quantize.per_channel': 'Per-channel quantization',
  'student.arch': 'Student',
  'teacher.arch': 'Teacher',
};

// "val_accuracy" -> "Validation accuracy"; an unknown name keeps its words:
// "my_metric" -> "My metric".
export function metricLabel(name) {
  if (METRICS[name]) return METRICS[name];
  return humanize(name);
}

// "prune.final_sparsity" -> "Target sparsity"; an unknown "stage.some_key" ->
// "Some key (stage)".
export function paramLabel(name) {
  if (PARAMS[name]) return PARAMS[name];
  const dot = name.lastIndexOf('.');
  if (dot < 0) return humanize(name);
  return `${humanize(name.slice(dot + 1))} (${name.slice(0, dot)})`;
}

// Metric or parameter, whichever the name is.
export function label(name) {
  return (PARAMS[name] || name.includes('.')) ? paramLabel(name) : metricLabel(name);
}

function humanize(s) {
  const words = String(s).replace(/[_-]+/g, ' ').trim();
  return words ? words[0].toUpperCase() + words.slice(1) : String(s);
}
