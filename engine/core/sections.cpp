#include "engine/core/sections.hpp"

#include <cstdlib>
#include <type_traits>

namespace engine {

namespace {
KeyDef key_table(std::string name, std::string doc) {
  return KeyDef{std::move(name), Type::Table, Value::table(), std::move(doc), {}, {}};
}

// A key bound to `member` of S; its type and default come from the member and S's initialiser.
template <class S, class M>
Field<S> field(std::string name, M S::*member, std::string doc, std::optional<double> min = {},
               std::vector<std::string> choices = {}) {
  const M def = S{}.*member;
  KeyDef key;
  if constexpr (std::is_same_v<M, bool>) {
    key = key_bool(std::move(name), def, std::move(doc));
  } else if constexpr (std::is_integral_v<M>) {
    key = key_int(std::move(name), static_cast<int64_t>(def), std::move(doc), min);
  } else if constexpr (std::is_floating_point_v<M>) {
    key = key_float(std::move(name), def, std::move(doc), min);
  } else if constexpr (std::is_same_v<M, std::string>) {
    key = key_string(std::move(name), def, std::move(doc), std::move(choices));
  } else if constexpr (std::is_same_v<M, std::vector<std::string>>) {
    key = key_strings(std::move(name), def, std::move(doc));
  } else {
    static_assert(std::is_same_v<M, std::vector<double>>, "add the member's type here");
    key = key_floats(std::move(name), def, std::move(doc));
  }
  auto bind = [member, what = key.name](S& into, const Value& v) {
    if constexpr (std::is_same_v<M, bool>)
      into.*member = v.as_bool(what);
    else if constexpr (std::is_integral_v<M>)
      into.*member = static_cast<M>(v.as_int(what));
    else if constexpr (std::is_floating_point_v<M>)
      into.*member = v.as_float(what);
    else if constexpr (std::is_same_v<M, std::string>)
      into.*member = v.as_string(what);
    else if constexpr (std::is_same_v<M, std::vector<std::string>>)
      into.*member = v.as_strings(what);
    else
      into.*member = v.as_floats(what);
  };
  return Field<S>{std::move(key), bind};
}

template <class S>
std::vector<KeyDef> keys_of(const std::vector<Field<S>>& fields) {
  std::vector<KeyDef> keys;
  for (const auto& f : fields) keys.push_back(f.key);
  return keys;
}

// Copies a completed section's values into a default S through its fields.
template <class S>
S bind_section(const Value& table, const std::vector<Field<S>>& fields) {
  S out;
  for (const auto& f : fields)
    if (f.bind) f.bind(out, *table.find(f.key.name));
  return out;
}
}  // namespace

const std::vector<Field<TrainConfig>>& train_fields() {
  using T = TrainConfig;
  static const std::vector<Field<T>> fields{
      field("device", &T::device, "auto picks CUDA when LibTorch has it", {}, {"auto", "cpu", "cuda"}),
      field("threads", &T::threads, "CPU threads (0: all cores)", 0),
      field("seed", &T::seed, "seed of initialisation, shuffling, augmentation and dropout", 0),
      field("epochs", &T::epochs, "number of epochs", 1),
      field("batch_size", &T::batch_size, "training batch size", 1),
      field("eval_batch_size", &T::eval_batch_size, "validation/test batch size (no gradients, so larger)", 1),
      field("precision", &T::precision,
            "bf16: autocast forward and loss, fp32 weights and optimiser; auto: bf16 where the hardware computes it "
            "natively (AMX or AVX512_BF16, CUDA sm80+), else fp32",
            {}, {"auto", "fp32", "bf16"}),
      field("memory_format", &T::memory_format,
            "auto: the faster on this CPU, timed once per graph (runs/.cache/plans.toml); channels_last on CUDA", {},
            {"auto", "channels_last", "contiguous"}),
      field("optimizer", &T::optimizer, "optimiser", {}, {"adam", "adamw", "sgd"}),
      field("lr", &T::lr, "learning rate", 0),
      field("momentum", &T::momentum, "SGD momentum", 0),
      field("nesterov", &T::nesterov, "SGD Nesterov momentum"),
      field("weight_decay", &T::weight_decay, "weight decay (decoupled for adamw)", 0),
      field("scheduler", &T::scheduler, "learning-rate schedule per epoch", {}, {"none", "step", "cosine"}),
      field("step_size", &T::step_size, "step scheduler: epochs between decays", 1),
      field("gamma", &T::gamma, "step scheduler: decay factor", 0),
      field("warmup_epochs", &T::warmup_epochs, "linear warm-up from lr/10 over this many epochs", 0),
      field("min_lr", &T::min_lr, "cosine scheduler: final learning rate", 0),
      field("label_smoothing", &T::label_smoothing, "CrossEntropyLoss label smoothing", 0),
      field("train_probe", &T::train_probe,
            "train images (fixed, seeded by data.split_seed) evaluated like val each epoch: train_eval_acc (0: off)",
            0),
      field("ema", &T::ema, "decay per step of the weights' moving average, which val and best.pt use (0: off)", 0),
      field("test_tta", &T::test_tta,
            "engine test reports flip TTA (mean logits of image and mirror); both are recorded"),
      field("kernels", &T::kernels,
            "auto: the engine's CPU kernels where measured faster (engine/kernels/); aten: LibTorch's alone "
            "(ENGINE_KERNELS overrides it)",
            {}, {"auto", "aten"}),
  };
  return fields;
}

const std::vector<Field<data::DataConfig>>& data_fields() {
  using D = data::DataConfig;
  static const std::vector<Field<D>> fields{
      field("root", &D::root, "the data folder (--data or ENGINE_DATA override it); docs/data.md"),
      // The formats of engine/nn/dataset/formats.cpp (a test keeps the two lists equal).
      field("format", &D::format, "layout of the root; auto: detected from it", {},
            {"auto", "tiny-imagenet", "imagefolder", "cifar-binary"}),
      field("classes", &D::classes,
            "class ids (wnids, folder names) to use, in label order; empty: choose num_classes"),
      field("num_classes", &D::num_classes, "how many classes to choose (seeded) when classes is empty", 1),
      field("class_seed", &D::class_seed, "seed of the class choice", 0),
      field("val_fraction", &D::val_fraction, "share of each class's train images held out for validation", 0),
      field("split_seed", &D::split_seed, "seed of the stratified train/val split", 0),
      field("resize", &D::resize, "resize images that are not the input size, by area averaging (false: reject them)"),
      field("skip_corrupt", &D::skip_corrupt, "skip undecodable images with a warning instead of failing"),
      field("cache", &D::cache, "keep decoded images in runs/.cache so the next run starts at once"),
      field("mean", &D::mean, "per-channel mean in [0,1]; empty: computed on the train split"),
      field("std", &D::std, "per-channel std in [0,1]; empty: computed on the train split"),
      Field<D>{key_table("augment", "training-time augmentation, applied per batch"), nullptr},
  };
  return fields;
}

const std::vector<Field<data::AugmentConfig>>& augment_fields() {
  using A = data::AugmentConfig;
  static const std::vector<Field<A>> fields{
      field("crop_padding", &A::crop_padding, "random crop after zero padding by this many pixels (0: off)", 0),
      field("flip", &A::flip, "random horizontal flip"),
      field("jitter", &A::jitter, "colour jitter strength for brightness/contrast/saturation (0: off)", 0),
      field("erasing", &A::erasing, "random erasing probability (0: off)", 0),
  };
  return fields;
}

const std::vector<Field<Limits>>& limits_fields() {
  static const std::vector<Field<Limits>> fields{
      field("max_params", &Limits::max_params, "largest allowed number of parameters", 1),
      field("max_channels", &Limits::max_channels, "largest allowed output width of any conv or linear layer", 1),
  };
  return fields;
}

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
      key_ints("shape", std::vector<int64_t>{3, 64, 64},
               "[channels, height, width] of one example; channels 3 (RGB) or 1 (grey)", 1),
  };
  return keys;
}

const std::vector<KeyDef>& limits_keys() {
  static const std::vector<KeyDef> keys = keys_of(limits_fields());
  return keys;
}
const std::vector<KeyDef>& data_keys() {
  static const std::vector<KeyDef> keys = keys_of(data_fields());
  return keys;
}
const std::vector<KeyDef>& augment_keys() {
  static const std::vector<KeyDef> keys = keys_of(augment_fields());
  return keys;
}
const std::vector<KeyDef>& train_keys() {
  static const std::vector<KeyDef> keys = keys_of(train_fields());
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
  if (data && data->is(Value::Kind::Table)) {
    if (const Value* c = data->find("classes"); c && c->is(Value::Kind::Array) && !c->items.empty())
      return static_cast<int64_t>(c->items.size());
    if (const Value* n = data->find("num_classes"); n && n->is(Value::Kind::Int)) return n->i;
  }
  return data::DataConfig{}.num_classes;
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

TrainConfig train_config(const Value& spec) { return bind_section(*spec.find("train"), train_fields()); }

Limits limits_config(const Value& spec) { return bind_section(*spec.find("limits"), limits_fields()); }

data::DataConfig data_config(const Value& spec, const std::string& root_override,
                             const std::vector<int64_t>& input_shape, const std::string& cache_dir) {
  const Value& d = *spec.find("data");
  data::DataConfig c = bind_section(d, data_fields());
  c.augment = bind_section(*d.find("augment"), augment_fields());
  const char* env = std::getenv("ENGINE_DATA");
  if (!root_override.empty())
    c.root = root_override;
  else if (env && *env)
    c.root = env;
  if (input_shape.size() != 3 || (input_shape[0] != 3 && input_shape[0] != 1))
    throw SpecError(
        spec.find("input")->find("shape")->loc,
        "input.shape must be [3, height, width] to train on RGB images, or [1, height, width] on grey ones");
  c.channels = static_cast<int>(input_shape[0]);
  c.height = static_cast<int>(input_shape[1]);
  c.width = static_cast<int>(input_shape[2]);
  if (c.cache) c.cache_dir = cache_dir;
  return c;
}

}  // namespace engine
