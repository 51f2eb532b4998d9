// summary.toml: one writer and one reader over one list of keys.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>

#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
// What the report computes with is required; what it only displays is optional.
enum class Need { Required, Optional };

// Every key of summary.toml, in file order. R: RunResult or const RunResult.
template <class R, class F>
void for_each_key(R& r, F&& f) {
  constexpr Need req = Need::Required, opt = Need::Optional;
  f("name", r.name, req);
  f("title", r.title, req);
  f("graph", r.graph, opt);
  f("params", r.params, req);
  f("macs", r.macs, opt);
  f("epochs", r.epochs, req);
  f("epochs_planned", r.epochs_planned, opt);
  f("best_val_acc", r.best_val_acc, req);
  f("best_epoch", r.best_epoch, req);
  f("train_acc_at_best", r.train_acc_at_best, req);
  f("train_loss_at_best", r.train_loss_at_best, opt);
  f("val_loss_at_best", r.val_loss_at_best, opt);
  f("final_train_acc", r.final_train_acc, opt);
  f("final_val_acc", r.final_val_acc, opt);
  f("final_train_loss", r.final_train_loss, opt);
  f("final_val_loss", r.final_val_loss, opt);
  f("train_eval_acc_at_best", r.train_eval_acc_at_best, opt);  // written only when measured
  f("final_train_eval_acc", r.final_train_eval_acc, opt);
  f("val_size", r.val_size, req);
  f("epoch_seconds_mean", r.epoch_seconds_mean, req);
  f("total_seconds", r.total_seconds, req);
  f("train_img_per_s", r.train_img_per_s, opt);
  f("overhead_fraction_last_epoch", r.overhead_fraction_last_epoch, opt);
  f("peak_rss_mb", r.peak_rss_mb, opt);
  f("device", r.device, opt);
  f("threads", r.threads, opt);
  f("precision", r.precision, opt);
  f("memory_format", r.memory_format, opt);
  f("kernels", r.kernels, opt);
  f("cpu_isa", r.cpu_isa, opt);
  f("loop_isa", r.loop_isa, opt);
  f("seed", r.seed, opt);
  f("engine_version", r.engine_version, opt);
  f("config_hash", r.config_hash, opt);
  f("complete", r.complete, opt);
}

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
Value to_value(const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    return Value::of_string(v);
  else if constexpr (std::is_same_v<T, bool>)
    return Value::of_bool(v);
  else if constexpr (std::is_same_v<T, double>)
    return Value::of_float(v);
  else
    return Value::of_int(v);
}

template <class T>
void from_value(const Value& v, const std::string& key, T& out) {
  if constexpr (is_optional<T>::value) {
    typename T::value_type value{};
    from_value(v, key, value);
    out = value;
  } else if constexpr (std::is_same_v<T, std::string>)
    out = v.as_string(key);
  else if constexpr (std::is_same_v<T, bool>)
    out = v.as_bool(key);
  else if constexpr (std::is_same_v<T, double>)
    out = v.as_float(key);  // `total_seconds = 12` is fine too
  else
    out = static_cast<T>(v.as_int(key));
}

void check_summary(const RunResult& r, const fs::path& path) {
  const std::string where = path.string();
  run_dir_detail::check_fraction(r.best_val_acc, "best_val_acc", where);
  run_dir_detail::check_fraction(r.train_acc_at_best, "train_acc_at_best", where);
  for (auto [key, value] : {std::pair{"train_eval_acc_at_best", &r.train_eval_acc_at_best},
                            std::pair{"final_train_eval_acc", &r.final_train_eval_acc}})
    if (*value) run_dir_detail::check_fraction(**value, key, where);
  if (r.val_size <= 0) throw UserError(where + ": val_size must be > 0");
  if (r.params < 0) throw UserError(where + ": params must be >= 0");
}

void warn_if_best_differs(const RunResult& r, const fs::path& path) {
  if (r.history.empty()) return;
  const auto best = std::max_element(r.history.begin(), r.history.end(),
                                     [](const EpochRow& a, const EpochRow& b) { return a.val_acc < b.val_acc; });
  if (std::abs(best->val_acc - r.best_val_acc) > 1e-6)
    spdlog::warn("{}: best_val_acc {} differs from the best val_acc in metrics.csv ({})", path.string(), r.best_val_acc,
                 best->val_acc);
}
}  // namespace

std::string summary_toml(const RunResult& r) {
  Value s = Value::table();
  for_each_key(r, [&](const char* key, const auto& v, Need) {
    if constexpr (is_optional<std::decay_t<decltype(v)>>::value) {
      if (v) s.set(key, to_value(*v));
    } else {
      s.set(key, to_value(v));
    }
  });
  if (!r.conv_kernels.empty()) {
    Value kernels = Value::table();
    for (const auto& [shape, kernel] : r.conv_kernels) kernels.set(shape, Value::of_string(kernel));
    s.set("conv_kernels", kernels);
  }
  return to_toml(s);
}

void RunDir::write_summary(const RunResult& r) const { write_file_atomic(dir_ / run_file::summary, summary_toml(r)); }

RunResult RunDir::read_result() const {
  if (!fs::is_directory(dir_)) throw UserError(dir_.string() + ": run directory not found");
  const fs::path path = dir_ / run_file::summary;
  const Value table = read_toml(path);
  RunResult r;
  r.dir = dir_;
  r.epochs_planned = -1;  // absent: as many as were run
  r.complete = true;
  for_each_key(r, [&](const char* key, auto& field, Need need) {
    if (const Value* v = table.find(key))
      from_value(*v, key, field);
    else if (need == Need::Required)
      throw UserError(path.string() + ": missing key '" + key + "'");
  });
  if (r.epochs_planned < 0) r.epochs_planned = r.epochs;
  if (const Value* kernels = table.find("conv_kernels")) {
    if (!kernels->is(Value::Kind::Table)) throw UserError(path.string() + ": conv_kernels must be a table");
    for (const std::string& shape : kernels->keys())
      r.conv_kernels[shape] = kernels->find(shape)->as_string("conv_kernels." + shape);
  }
  check_summary(r, path);
  r.history = read_metrics();
  warn_if_best_differs(r, path);
  return r;
}

void update_from_history(RunResult& r, const CheckpointInfo& best) {
  const std::vector<EpochRow>& rows = r.history;
  const EpochRow none;
  const EpochRow* at_best = &none;
  for (const auto& row : rows)
    if (row.epoch == best.best_epoch) at_best = &row;
  const EpochRow& last = rows.empty() ? none : rows.back();
  r.epochs = static_cast<int>(rows.size());
  r.best_val_acc = at_best->val_acc;
  r.best_epoch = static_cast<int>(best.best_epoch);
  r.train_acc_at_best = at_best->train_acc;
  r.train_loss_at_best = at_best->train_loss;
  r.val_loss_at_best = at_best->val_loss;
  r.final_train_acc = last.train_acc;
  r.final_val_acc = last.val_acc;
  r.final_train_loss = last.train_loss;
  r.final_val_loss = last.val_loss;
  r.train_eval_acc_at_best = at_best->train_eval_acc;
  r.final_train_eval_acc = last.train_eval_acc;
  double total = 0, rate = 0;
  for (const auto& row : rows) total += row.seconds, rate += row.img_per_s;
  r.epoch_seconds_mean = rows.empty() ? 0 : total / rows.size();
  r.total_seconds = total;
  r.train_img_per_s = rows.empty() ? 0 : rate / rows.size();
  r.complete = r.epochs >= r.epochs_planned;
}

}  // namespace engine
