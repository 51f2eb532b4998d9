#pragma once
// The sections of a graph file around its layers — [input], [limits], [data], [train]. Each
// section is one table of fields: a key (type, doc, allowed values, minimum) bound to a member
// of the struct the runner reads. The struct's member initialisers are the defaults, so a
// default is written once; validation, binding and `engine config`'s doc lines all come from
// the same table.
#include <functional>
#include <string>
#include <vector>

#include "engine/core/data_config.hpp"
#include "engine/core/graph.hpp"
#include "engine/core/schema.hpp"
#include "engine/core/spec.hpp"

namespace engine {

// One key of a section and where its value goes in the section's struct S.
template <class S>
struct Field {
  KeyDef key;
  std::function<void(S& into, const Value& value)> bind;  // null: bound elsewhere (a sub-table)
};

struct TrainConfig {
  std::string device = "auto";
  int64_t threads = 0;
  uint64_t seed = 0;
  int64_t epochs = 20;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 500;
  std::string precision = "auto";
  std::string memory_format = "auto";
  std::string optimizer = "adam";
  double lr = 1e-3;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0;
  std::string scheduler = "none";
  int64_t step_size = 10;
  double gamma = 0.1;
  int64_t warmup_epochs = 0;
  double min_lr = 0;
  double label_smoothing = 0;
  // Added later: a run whose config.toml predates a key ran with its default (see RunDir::prepare).
  int64_t train_probe = 500;
  double ema = 0;
  bool test_tta = false;
  std::string kernels = "auto";
};

const std::vector<Field<TrainConfig>>& train_fields();
const std::vector<Field<data::DataConfig>>& data_fields();
const std::vector<Field<data::AugmentConfig>>& augment_fields();
const std::vector<Field<Limits>>& limits_fields();

const std::vector<KeyDef>& top_keys();
const std::vector<KeyDef>& input_keys();
const std::vector<KeyDef>& limits_keys();
const std::vector<KeyDef>& data_keys();
const std::vector<KeyDef>& augment_keys();
const std::vector<KeyDef>& train_keys();

// Checks every section of a resolved spec and fills in the defaults.
void complete_sections(Value& spec);

// Number of classes: the length of data.classes when given, else data.num_classes (or its
// default when the spec does not set it).
int64_t class_count(const Value& spec);

// The resolved graph as TOML with each section key's doc line beside it (`engine config`).
std::string annotated_toml(const Value& completed_spec);

TrainConfig train_config(const Value& completed_spec);
Limits limits_config(const Value& completed_spec);

// [data] as the pipeline's struct. The root is `root_override` if given, else $ENGINE_DATA,
// else [data].root; images are sized to the graph's input; the cache (when [data].cache is on)
// lives in `cache_dir`.
data::DataConfig data_config(const Value& completed_spec, const std::string& root_override,
                             const std::vector<int64_t>& input_shape, const std::string& cache_dir);

}  // namespace engine
