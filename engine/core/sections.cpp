#include "engine/core/sections.hpp"

#include <cstdlib>

namespace engine {

namespace {
KeyDef key_table(std::string name, std::string doc) {
  return KeyDef{std::move(name), Type::Table, Value::table(), std::move(doc), {}, {}};
}
}  // namespace

const std::vector<KeyDef>& top_keys() {
  static const std::vector<KeyDef> keys{
      key_string("name", std::nullopt, "the graph's name; also its run directory runs/<name>"),
      key_string("title", "", "one line saying what this variant is (used in reports)"),
      key_table("input", "the shape of one example"),
      key_table("limits", "bounds the validator enforces"),
      key_table("vars", "values referenced as \"$name\" anywhere else in the file"),
      key_table("data", "which images, classes and splits"),
      key_table("train", "how the runner trains the graph"),
      KeyDef{"layers", Type::Table, std::nullopt, "the ordered graph ([[layers]] entries)", {}, {}},
  };
  return keys;
}

const std::vector<KeyDef>& input_keys() {
  static const std::vector<KeyDef> keys{
      key_ints("shape", std::vector<int64_t>{3, 64, 64}, "[channels, height, width] of one example", 1),
  };
  return keys;
}

const std::vector<KeyDef>& limits_keys() {
  static const std::vector<KeyDef> keys{
      key_int("max_params", 5'000'000, "largest allowed number of parameters", 1),
      key_int("max_channels", 512, "largest allowed output width of any conv or linear layer", 1),
  };
  return keys;
}

const std::vector<KeyDef>& data_keys() {
  static const std::vector<KeyDef> keys{
      key_string("root", "data/tiny-imagenet-200",
                 "dataset root in the official Tiny ImageNet layout (--data or ENGINE_DATA override it)"),
      key_strings("classes", std::vector<std::string>{}, "wnids to use, in label order; empty: choose num_classes"),
      key_int("num_classes", 10, "how many classes to choose (seeded) when classes is empty", 1),
      key_int("class_seed", 0, "seed of the class choice", 0),
      key_float("val_fraction", 0.1, "share of each class's train images held out for validation", 0),
      key_int("split_seed", 0, "seed of the stratified train/val split", 0),
      key_bool("resize", true, "resize images that are not the input size (false: reject them)"),
      key_bool("skip_corrupt", false, "skip undecodable images with a warning instead of failing"),
      key_bool("cache", true, "keep decoded images in runs/.cache so the next run starts at once"),
      key_floats("mean", std::vector<double>{}, "per-channel mean in [0,1]; empty: computed on the train split"),
      key_floats("std", std::vector<double>{}, "per-channel std in [0,1]; empty: computed on the train split"),
      key_table("augment", "training-time augmentation, applied per batch"),
  };
  return keys;
}

const std::vector<KeyDef>& augment_keys() {
  static const std::vector<KeyDef> keys{
      key_int("crop_padding", 0, "random crop after zero padding by this many pixels (0: off)", 0),
      key_bool("flip", false, "random horizontal flip"),
      key_float("jitter", 0.0, "colour jitter strength for brightness/contrast/saturation (0: off)", 0),
      key_float("erasing", 0.0, "random erasing probability (0: off)", 0),
  };
  return keys;
}

const std::vector<KeyDef>& train_keys() {
  static const std::vector<KeyDef> keys{
      key_string("device", "auto", "auto picks CUDA when LibTorch has it", {"auto", "cpu", "cuda"}),
      key_int("threads", 0, "CPU threads (0: all cores)", 0),
      key_int("seed", 0, "seed of initialisation, shuffling, augmentation and dropout", 0),
      key_int("epochs", 20, "number of epochs", 1),
      key_int("batch_size", 128, "training batch size", 1),
      key_int("eval_batch_size", 500, "validation/test batch size (no gradients, so larger)", 1),
      key_string("precision", "bf16", "bf16: autocast forward and loss, fp32 weights and optimiser",
                 {"fp32", "bf16"}),
      key_string("memory_format", "auto", "auto: channels_last where it is faster (CPU oneDNN, CUDA)",
                 {"auto", "channels_last", "contiguous"}),
      key_string("optimizer", "adam", "optimiser", {"adam", "adamw", "sgd"}),
      key_float("lr", 1e-3, "learning rate", 0),
      key_float("momentum", 0.9, "SGD momentum", 0),
      key_bool("nesterov", false, "SGD Nesterov momentum"),
      key_float("weight_decay", 0.0, "weight decay (decoupled for adamw)", 0),
      key_string("scheduler", "none", "learning-rate schedule per epoch", {"none", "step", "cosine"}),
      key_int("step_size", 10, "step scheduler: epochs between decays", 1),
      key_float("gamma", 0.1, "step scheduler: decay factor", 0),
      key_int("warmup_epochs", 0, "linear warm-up from lr/10 over this many epochs", 0),
      key_float("min_lr", 0.0, "cosine scheduler: final learning rate", 0),
      key_float("label_smoothing", 0.0, "CrossEntropyLoss label smoothing", 0),
  };
  return keys;
}

void complete_sections(Value& spec) {
  apply_schema(spec, top_keys(), "graph", {"layers", "vars"});
  apply_schema(*spec.find("input"), input_keys(), "[input]");
  apply_schema(*spec.find("limits"), limits_keys(), "[limits]");
  Value& data = *spec.find("data");
  apply_schema(data, data_keys(), "[data]");
  apply_schema(*data.find("augment"), augment_keys(), "[data.augment]");
  apply_schema(*spec.find("train"), train_keys(), "[train]");
  if (!spec.find("layers")) throw SpecError(spec.loc, "the graph has no [[layers]]");
}

int64_t class_count(const Value& spec) {
  const Value* data = spec.find("data");
  if (!data || !data->is(Value::Kind::Table)) return 10;
  if (const Value* c = data->find("classes"); c && c->is(Value::Kind::Array) && !c->items.empty())
    return static_cast<int64_t>(c->items.size());
  if (const Value* n = data->find("num_classes"); n && n->is(Value::Kind::Int)) return n->i;
  return 10;
}

namespace {
void section(std::string& out, const std::string& header, const Value& table, const std::vector<KeyDef>& keys) {
  out += "\n[" + header + "]\n";
  for (const auto& k : keys) {
    if (k.type == Type::Table) continue;
    const Value* v = table.find(k.name);
    if (!v) continue;
    std::string line = k.name + " = " + v->repr();
    if (line.size() < 40) line.resize(40, ' ');
    out += line + "  # " + k.doc + "\n";
  }
}
}  // namespace

std::string annotated_toml(const Value& spec) {
  std::string out;
  for (const char* k : {"name", "title"}) out += std::string(k) + " = " + spec.find(k)->repr() + "\n";
  section(out, "input", *spec.find("input"), input_keys());
  section(out, "limits", *spec.find("limits"), limits_keys());
  section(out, "data", *spec.find("data"), data_keys());
  section(out, "data.augment", *spec.find("data")->find("augment"), augment_keys());
  section(out, "train", *spec.find("train"), train_keys());
  Value rest = Value::table();
  for (const char* k : {"vars", "layers"})
    if (const Value* v = spec.find(k)) rest.set(k, *v);
  return out + to_toml(rest);
}

TrainConfig train_config(const Value& spec) {
  const Value& t = *spec.find("train");
  auto get = [&](const char* k) -> const Value& { return *t.find(k); };
  TrainConfig c;
  c.device = get("device").s;
  c.threads = get("threads").i;
  c.seed = static_cast<uint64_t>(get("seed").i);
  c.epochs = get("epochs").i;
  c.batch_size = get("batch_size").i;
  c.eval_batch_size = get("eval_batch_size").i;
  c.precision = get("precision").s;
  c.memory_format = get("memory_format").s;
  c.optimizer = get("optimizer").s;
  c.lr = get("lr").f;
  c.momentum = get("momentum").f;
  c.nesterov = get("nesterov").b;
  c.weight_decay = get("weight_decay").f;
  c.scheduler = get("scheduler").s;
  c.step_size = get("step_size").i;
  c.gamma = get("gamma").f;
  c.warmup_epochs = get("warmup_epochs").i;
  c.min_lr = get("min_lr").f;
  c.label_smoothing = get("label_smoothing").f;
  return c;
}

data::DataConfig data_config(const Value& spec, const std::string& root_override,
                             const std::vector<int64_t>& input_shape, const std::string& cache_dir) {
  const Value& d = *spec.find("data");
  const Value& a = *d.find("augment");
  data::DataConfig c;
  const char* env = std::getenv("ENGINE_DATA");
  c.root = !root_override.empty() ? root_override : (env && *env) ? std::string(env) : d.find("root")->s;
  c.classes = d.find("classes")->as_strings("data.classes");
  c.num_classes = static_cast<int>(d.find("num_classes")->i);
  c.class_seed = static_cast<uint64_t>(d.find("class_seed")->i);
  c.val_fraction = d.find("val_fraction")->f;
  c.split_seed = static_cast<uint64_t>(d.find("split_seed")->i);
  if (input_shape.size() != 3 || input_shape[0] != 3)
    throw SpecError(spec.find("input")->find("shape")->loc,
                    "input.shape must be [3, height, width] to train on RGB images");
  c.height = static_cast<int>(input_shape[1]);
  c.width = static_cast<int>(input_shape[2]);
  c.resize = d.find("resize")->b;
  c.skip_corrupt = d.find("skip_corrupt")->b;
  if (d.find("cache")->b) c.cache_dir = cache_dir;
  c.mean = d.find("mean")->as_floats("data.mean");
  c.std = d.find("std")->as_floats("data.std");
  c.augment.crop_padding = static_cast<int>(a.find("crop_padding")->i);
  c.augment.flip = a.find("flip")->b;
  c.augment.jitter = a.find("jitter")->f;
  c.augment.erasing = a.find("erasing")->f;
  return c;
}

}  // namespace engine
