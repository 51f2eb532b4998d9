// Using a trained run: engine predict, engine export (PyTorch, ONNX), extending a finished run.
#include <doctest/doctest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <map>
#include <regex>

#include "engine/cli/study.hpp"
#include "engine/core/eval/metrics.hpp"
#include "engine/core/pytorch_source.hpp"
#include "engine/core/registry.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/sections.hpp"
#include "engine/nn/dataset/data.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/nn/runner/run.hpp"
#include "engine/nn/use/export.hpp"
#include "tests/support.hpp"

using namespace engine;
namespace fs = std::filesystem;

namespace {
// A tiny run trained once for the whole suite (2 epochs on the synthetic dataset, ~1 s).
struct TrainedFixture {
  test::TempDir dir{"engine-use"};
  fs::path data = dir / "data";
  fs::path graph, run = dir / "run";
  TrainedFixture() {
    test::write_tiny_dataset(data);
    graph = dir.write("tiny.toml", test::tiny_graph("tiny"));
    RunOptions o;
    o.out = run.string();
    o.data_root = data.string();
    REQUIRE(run_graph(graph, o).complete);
  }
};

TrainedFixture& trained() {
  static TrainedFixture f;
  return f;
}

// One parsed line of `engine predict --json`.
struct JsonPrediction {
  std::string file, error;
  std::vector<std::pair<std::string, double>> top;  // wnid, probability
};

std::vector<JsonPrediction> parse_json_lines(const std::string& out) {
  static const std::regex file_re("\"file\": \"([^\"]*)\""), error_re("\"error\": \"([^\"]*)\""),
      class_re("\"wnid\": \"([^\"]*)\", \"name\": \"[^\"]*\", \"probability\": ([0-9.e+-]+)");
  std::vector<JsonPrediction> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    JsonPrediction p;
    std::smatch m;
    REQUIRE(std::regex_search(line, m, file_re));
    p.file = m[1];
    if (std::regex_search(line, m, error_re)) p.error = m[1];
    for (auto it = std::sregex_iterator(line.begin(), line.end(), class_re); it != std::sregex_iterator(); ++it)
      p.top.emplace_back((*it)[1], std::stod((*it)[2]));
    lines.push_back(p);
  }
  return lines;
}

std::map<std::string, JsonPrediction> by_file(const std::vector<JsonPrediction>& lines) {
  std::map<std::string, JsonPrediction> m;
  for (const auto& p : lines) m[fs::path(p.file).filename().string()] = p;
  return m;
}

// Same classes in the same order, probabilities equal to float precision (rows of one batch).
bool same_top(const JsonPrediction& a, const JsonPrediction& b) {
  if (a.top.size() != b.top.size() || a.top.empty()) return false;
  for (size_t k = 0; k < a.top.size(); ++k)
    if (a.top[k].first != b.top[k].first || std::abs(a.top[k].second - b.top[k].second) > 1e-5) return false;
  return true;
}

cv::Mat noise_image(int height, int width, int type, int seed) {
  cv::Mat m(height, width, type);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, 255);
  return m;
}

bool python_has(const std::string& module) {
  return run_python(export_python(), {"-c", "import " + module}).status == 0;
}

// Random batchnorm statistics and affine terms, so that the export check covers every buffer.
void randomise_norms(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& b : m.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.2, 0.2);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
  for (auto& p : m.named_parameters()) {
    if (p.value().dim() != 1) continue;
    bool bias = p.key().find("bias") != std::string::npos;
    p.value().uniform_(bias ? -0.2 : 0.5, bias ? 0.2 : 1.5);
  }
}

// A run directory as `engine run` leaves it, without training: config.toml, data.toml and a
// best.pt of freshly initialised weights; plus reference.pt, the engine's fp32 logits on a
// fixed batch, for the Python side of the export check.
void fake_run(const fs::path& dir, const LoadedGraph& lg, int seed) {
  RunDir(dir).prepare(to_toml(lg.spec), lg.spec, false);
  RunData d;
  const Value* classes = lg.spec.find("data")->find("classes");
  for (int64_t k = 0; k < lg.graph.num_classes; ++k) {
    d.wnids.push_back(classes && !classes->items.empty() ? classes->items[k].s : "n" + std::to_string(1000 + k));
    d.names.push_back("class " + std::to_string(k));
  }
  d.mean = {0.5, 0.45, 0.4};
  d.std = {0.25, 0.26, 0.27};
  write_run_data(dir, d);
  torch::manual_seed(seed);
  GraphModule model = build_model(lg.graph);
  randomise_norms(*model);
  save_checkpoint(dir / "best.pt", *model, nullptr, CheckpointInfo{1, 0.5, 1});
  model->eval();
  std::vector<int64_t> shape{3};
  shape.insert(shape.end(), lg.graph.input.begin(), lg.graph.input.end());
  torch::Tensor x = torch::randn(shape);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->forward(x);
  }
  c10::Dict<std::string, torch::Tensor> ref;
  ref.insert("x", x);
  ref.insert("logits", logits.contiguous());
  std::vector<char> bytes = torch::pickle_save(c10::IValue(ref));
  std::ofstream(dir / "reference.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Loads each exported model.py + weights.pt with strict keys and compares its logits with the engine's.
const char* kExportCheck = R"(import importlib.util, os, sys, torch
worst = 0.0
for d in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("exported", os.path.join(d, "export", "model.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    net = m.load(os.path.join(d, "export"))
    ref = torch.load(os.path.join(d, "reference.pt"))
    with torch.no_grad():
        y = net(ref["x"])
    diff = (y - ref["logits"]).abs().max().item()
    worst = max(worst, diff)
    params = sum(p.numel() for p in net.parameters())
    print(f"{os.path.basename(d):>10}: {params:>9,} params, max |logit - engine's| {diff:.1e}")
print(f"worst {worst:.1e} over {len(sys.argv) - 1} graphs")
sys.exit(0 if worst <= 1e-4 else 1)
)";

// Every op of the registry, residual wiring by hand (from/add/concat), in-place activations
// both allowed and not, names Python reserves, and a resnet_stages spliced into a non-chain.
const char* kResidualGraph = R"(name = "residual"
[input]
shape = [3, 32, 32]
[data]
num_classes = 3
[[layers]]
op = "conv2d"
name = "stem"
out = 8
kernel = 3
padding = 1
[[layers]]
op = "batchnorm2d"
name = "bn"
eps = 1e-3
momentum = 0.2
[[layers]]
op = "relu"
name = "act"
[[layers]]
op = "conv2d"
name = "a"
out = 8
kernel = 3
padding = 2
dilation = 2
groups = 2
[[layers]]
op = "gelu"
name = "a-act"
approximate = "tanh"
[[layers]]
op = "conv2d"
name = "b"
from = "act"
out = 8
kernel = 1
bias = false
[[layers]]
op = "add"
name = "sum"
from = ["a-act", "b", "act"]
[[layers]]
op = "leaky_relu"
name = "forward"
negative_slope = 0.2
[[layers]]
op = "relu"
name = "stem-relu"
from = "stem"
[[layers]]
op = "concat"
name = "cat"
from = ["forward", "stem-relu"]
[[layers]]
op = "elu"
alpha = 0.5
[[layers]]
op = "maxpool2d"
kernel = 3
stride = 1
padding = 1
[[layers]]
op = "basic_block"
name = "block"
out = 16
act = "gelu"
[[layers]]
op = "resnet_stages"
widths = [16, 24]
blocks = [1]
act = "elu"
[[layers]]
op = "avgpool2d"
kernel = 2
[[layers]]
op = "identity"
name = "x"
[[layers]]
op = "adaptive_avgpool2d"
size = 2
[[layers]]
op = "flatten"
[[layers]]
op = "dropout"
p = 0.3
[[layers]]
op = "linear"
name = "fc"
out = "$classes"
)";
}  // namespace

TEST_SUITE("use") {
  TEST_CASE(
      "predict: files, a directory, grey and odd-sized images; an unreadable file is reported, the rest predicted") {
    auto& f = trained();
    test::TempDir dir{"engine-predict"};
    cv::Mat colour = noise_image(32, 32, CV_8UC3, 1);
    cv::imwrite((dir / "colour.png").string(), colour);
    cv::imwrite((dir / "grey.png").string(), noise_image(45, 70, CV_8UC1, 2));
    cv::imwrite((dir / "big.jpg").string(), noise_image(100, 80, CV_8UC3, 3));
    cv::Mat rgba;
    cv::cvtColor(colour, rgba, cv::COLOR_BGR2BGRA);
    cv::imwrite((dir / "alpha.png").string(), rgba);
    dir.write("broken.jpg", "not an image at all");
    std::string jpeg = test::read_file(dir / "big.jpg");
    dir.write("truncated.jpg", jpeg.substr(0, jpeg.size() / 2));
    fs::path val = f.data / "val" / "images";

    auto r = test::run_cli({"predict", f.run.string(), (dir / "colour.png").string(), (dir / "grey.png").string(),
                            (dir / "broken.jpg").string(), (dir / "big.jpg").string(), (dir / "alpha.png").string(),
                            (dir / "truncated.jpg").string(), (dir / "missing.png").string(), val.string(), "--json",
                            "--top", "2"});
    INFO(r.err);
    CHECK(r.code == 2);  // some files failed; the others were predicted
    auto lines = parse_json_lines(r.out);
    REQUIRE(lines.size() == 7 + 18);  // in input order; the directory's 18 images sorted
    CHECK(fs::path(lines[0].file).filename() == "colour.png");
    CHECK(fs::path(lines[7].file).filename() == "val_0.JPEG");
    int failed = 0;
    for (const auto& p : lines) {
      CAPTURE(p.file);
      if (!p.error.empty()) {
        ++failed;
        CHECK(p.top.empty());
        CHECK(r.err.find("error: " + p.file + ": ") != std::string::npos);
        continue;
      }
      REQUIRE(p.top.size() == 2);
      CHECK(p.top[0].second >= p.top[1].second);
      CHECK(p.top[0].second + p.top[1].second <= 1.0 + 1e-6);
      CHECK(p.top[0].first.rfind("n0000100", 0) == 0);
    }
    CHECK(failed == 3);
    auto m = by_file(lines);
    CHECK(m["broken.jpg"].error.find("cannot be read as an image") != std::string::npos);
    CHECK(m["truncated.jpg"].error.find("cannot be read as an image") != std::string::npos);
    CHECK(m["missing.png"].error == "no such file or directory");
    // An alpha channel is dropped: the same pixels as the colour image, the same prediction.
    CHECK(same_top(m["alpha.png"], m["colour.png"]));
    CHECK(r.err.find("22 images in ") != std::string::npos);
    CHECK(r.err.find("img/s") != std::string::npos);
    CHECK(r.err.find("3 file(s) could not be read") != std::string::npos);

    // Plain text: the file, then one line per class with probability, wnid and name.
    auto text = test::run_cli({"predict", f.run.string(), (dir / "grey.png").string(), "--top", "3"});
    CHECK(text.code == 0);
    CHECK(std::regex_search(text.out, std::regex("grey\\.png\\n( +[0-9.]+%  n0000100[0-2]  class[0-2]\\n){3}$")));

    // The graph file works as well as its run directory.
    auto via_graph = test::run_cli(
        {"predict", f.graph.string(), "--run-dir", f.run.string(), (dir / "grey.png").string(), "--top", "3"});
    CHECK(via_graph.out == text.out);
  }

  TEST_CASE("predict reads an image as the training pipeline does: grey is RGB, other sizes are INTER_AREA-resized") {
    auto& f = trained();
    test::TempDir dir{"engine-predict"};
    cv::Mat grey = noise_image(40, 50, CV_8UC1, 4), grey_rgb, resized;
    cv::imwrite((dir / "grey.png").string(), grey);
    cv::cvtColor(grey, grey_rgb, cv::COLOR_GRAY2BGR);
    cv::resize(grey_rgb, resized, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
    cv::imwrite((dir / "same-as-grey.png").string(), resized);
    auto r = test::run_cli({"predict", f.run.string(), dir.path().string(), "--json", "--top", "3"});
    REQUIRE(r.code == 0);
    auto m = by_file(parse_json_lines(r.out));
    REQUIRE(m.size() == 2);
    CHECK(same_top(m["grey.png"], m["same-as-grey.png"]));
  }

  TEST_CASE(
      "predict on the test split agrees with engine test; an older run without data.toml gets the same mean/std") {
    auto& f = trained();
    auto tested = test::run_cli({"test", f.graph.string(), "--run-dir", f.run.string(), "--data", f.data.string()});
    REQUIRE(tested.code == 0);
    double test_accuracy = RunDir(f.run).read_test_metrics().metrics.accuracy;

    std::map<std::string, std::string> truth;  // file → wnid
    std::ifstream ann(f.data / "val" / "val_annotations.txt");
    for (std::string file, wnid, rest; ann >> file >> wnid && std::getline(ann, rest);) truth[file] = wnid;
    auto r = test::run_cli({"predict", f.run.string(), (f.data / "val" / "images").string(), "--json", "--top", "1"});
    REQUIRE(r.code == 0);
    auto lines = parse_json_lines(r.out);
    REQUIRE(lines.size() == truth.size());
    int correct = 0;
    for (const auto& p : lines) correct += p.top.at(0).first == truth[fs::path(p.file).filename().string()];
    CHECK(static_cast<double>(correct) / lines.size() == doctest::Approx(test_accuracy).epsilon(1e-12));

    // data.toml holds exactly what the loader used: the train split's statistics.
    std::optional<RunData> stored = read_run_data(f.run);
    REQUIRE(stored);
    LoadedGraph lg = load_graph(f.graph);
    data::LoadedData loaded =
        data::load_data(data_config(lg.spec, f.data.string(), lg.graph.input, ""), data::TestSplit::Skip);
    CHECK(stored->mean == loaded.mean);
    CHECK(stored->std == loaded.std);
    CHECK(stored->wnids == loaded.wnids);
    CHECK(stored->names == loaded.names);

    // A run from before data.toml: recomputed from the dataset, identical predictions.
    test::TempDir old{"engine-old-run"};
    fs::path copy = old / "run";
    fs::copy(f.run, copy, fs::copy_options::recursive);
    fs::remove(copy / "data.toml");
    auto again = test::run_cli({"predict", copy.string(), (f.data / "val" / "images").string(), "--json", "--top", "1",
                                "--data", f.data.string()});
    INFO(again.err);
    REQUIRE(again.code == 0);
    CHECK(again.err.find("has no data.toml") != std::string::npos);
    std::string a = std::regex_replace(r.out, std::regex("\"file\": \"[^\"]*/"), "\"file\": \"");
    std::string b = std::regex_replace(again.out, std::regex("\"file\": \"[^\"]*/"), "\"file\": \"");
    CHECK(a == b);
  }

  TEST_CASE("--tta averages an image with its mirror: a picture and its mirror image get the same prediction") {
    auto& f = trained();
    test::TempDir dir{"engine-tta"};
    cv::Mat image = noise_image(32, 32, CV_8UC3, 5), mirror;
    image(cv::Rect(0, 0, 16, 32)).setTo(cv::Scalar(0, 200, 30));  // asymmetric
    cv::flip(image, mirror, 1);
    cv::imwrite((dir / "a.png").string(), image);
    cv::imwrite((dir / "b.png").string(), mirror);
    auto plain =
        by_file(parse_json_lines(test::run_cli({"predict", f.run.string(), dir.path().string(), "--json"}).out));
    auto tta = by_file(
        parse_json_lines(test::run_cli({"predict", f.run.string(), dir.path().string(), "--json", "--tta"}).out));
    REQUIRE(tta["a.png"].top.size() == 3);
    CHECK_FALSE(same_top(plain["a.png"], plain["b.png"]));
    CHECK(same_top(tta["a.png"], tta["b.png"]));
  }

  TEST_CASE("predict without a trained run, or with a bad argument, exits 2 and says why") {
    auto& f = trained();
    test::TempDir dir{"engine-predict"};
    auto none = test::run_cli({"predict", f.graph.string(), "--run-dir", (dir / "nothing").string(), f.graph.string()});
    CHECK(none.code == 2);
    CHECK(none.err.find("no best checkpoint") != std::string::npos);
    auto not_run = test::run_cli({"predict", dir.path().string(), f.graph.string()});
    CHECK(not_run.code == 2);
    CHECK(not_run.err.find("is not a run directory") != std::string::npos);
    auto zero = test::run_cli({"predict", f.run.string(), f.graph.string(), "--top", "0"});
    CHECK(zero.code == 2);
  }

  TEST_CASE("every leaf op of the registry has a PyTorch counterpart in the exporter") {
    for (const auto& [name, def] : default_registry().all()) {
      CAPTURE(name);
      if (!def.expand) CHECK(has_pytorch_counterpart(name));
    }
  }

  TEST_CASE("export: model.py + weights.pt give the engine's logits in Python, for every graph and a residual one") {
    test::TempDir dir{"engine-export"};
    std::vector<fs::path> graphs;
    for (const auto& e : fs::directory_iterator(test::source_dir() / "graphs"))
      if (e.path().extension() == ".toml" && !is_study_file(e.path())) graphs.push_back(e.path());
    std::sort(graphs.begin(), graphs.end());
    graphs.push_back(dir.write("residual.toml", kResidualGraph));
    std::vector<std::string> runs;
    int seed = 0;
    for (const auto& g : graphs) {
      CAPTURE(g);
      LoadedGraph lg = load_graph(g);
      fs::path run = dir / lg.graph.name;
      fake_run(run, lg, ++seed);
      auto r = test::run_cli({"export", run.string(), "--to", "pytorch", "-o", (run / "export").string()});
      INFO(r.err);
      REQUIRE(r.code == 0);
      for (const char* file : {"model.py", "weights.pt", "classes.json"}) CHECK(fs::exists(run / "export" / file));
      runs.push_back(run.string());
    }
    std::string model_py = test::read_file(dir / "residual" / "export" / "model.py");
    CHECK(model_py.find("self._modules[\"forward\"] = nn.LeakyReLU(0.2, inplace=True)") != std::string::npos);
    CHECK(model_py.find("self._modules[\"stem-relu\"] = nn.ReLU()") != std::string::npos);  // its input is shared
    CHECK(model_py.find("sum_ = a_act + b + act") != std::string::npos);
    CHECK(model_py.find("torch.cat([forward, stem_relu], dim=1)") != std::string::npos);
    CHECK(model_py.find("layer2_0 = self.layer2[0](layer1_0)") != std::string::npos);
    std::string baseline_py = test::read_file(dir / "baseline" / "export" / "model.py");
    CHECK(baseline_py.find("x = self.layer2(x)") != std::string::npos);
    CHECK(baseline_py.find("self.downsample = nn.Sequential(") != std::string::npos);
    CHECK(test::read_file(dir / "residual" / "export" / "classes.json")
              .find("{\"wnid\": \"n1000\", \"name\": \"class 0\"}") != std::string::npos);

    if (!python_has("torch")) {
      MESSAGE("skipped the Python half: " << export_python() << " has no torch (apt-get install python3-torch)");
      return;
    }
    dir.write("check.py", kExportCheck);
    std::vector<std::string> args{(dir / "check.py").string()};
    args.insert(args.end(), runs.begin(), runs.end());
    PythonResult py = run_python(export_python(), args);
    MESSAGE("export check (" << export_python() << "):\n" << py.output);
    CHECK(py.status == 0);
    CHECK(py.output.find("worst ") != std::string::npos);
  }

  TEST_CASE("export --to onnx runs model.py through torch.onnx.export and onnx.checker") {
    if (!python_has("torch")) {
      MESSAGE("skipped: " << export_python() << " has no torch (apt-get install python3-torch)");
      return;
    }
    test::TempDir dir{"engine-onnx"};
    LoadedGraph lg = load_graph(dir.write("residual.toml", kResidualGraph));
    fake_run(dir / "run", lg, 7);
    auto r = test::run_cli({"export", (dir / "run").string(), "--to", "onnx"});
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    CHECK(fs::file_size(dir / "run" / "export" / "model.onnx") > 1000);
    CHECK(r.out.find("wrote " + (dir / "run" / "export" / "model.onnx").string()) != std::string::npos);
    if (python_has("onnx"))
      CHECK(r.out.find("onnx.checker: ok") != std::string::npos);
    else
      MESSAGE("onnx.checker not run: no onnx module (apt-get install python3-onnx)");
  }

  TEST_CASE("a finished run (lr constant, stepped at epoch 3) extended from 2 to 3 epochs equals a 3-epoch run") {
    auto& f = trained();
    test::TempDir dir{"engine-extend"};
    auto options = [&](const std::string& out, std::vector<std::string> sets) {
      RunOptions o;
      o.out = (dir / out).string();
      o.data_root = f.data.string();
      o.sets = std::move(sets);
      return o;
    };
    std::vector<std::string> sets{"data.augment.flip=true", "train.scheduler=step", "train.step_size=2",
                                  "train.gamma=0.5"};
    auto with_epochs = [&](int epochs) {
      auto s = sets;
      s.push_back("train.epochs=" + std::to_string(epochs));
      return s;
    };
    run_graph(f.graph, options("whole", with_epochs(3)));
    REQUIRE(run_graph(f.graph, options("extended", with_epochs(2))).complete);
    RunOutcome more = run_graph(f.graph, options("extended", with_epochs(3)));
    CHECK(more.complete);
    CHECK_FALSE(more.was_complete);
    CHECK(more.epochs_done == 3);
    CHECK(parse_toml_file(dir / "extended" / "config.toml").find("train")->find("epochs")->i == 3);

    auto a = RunDir(dir / "whole").read_metrics();
    auto b = RunDir(dir / "extended").read_metrics();
    REQUIRE(a.size() == 3);
    REQUIRE(b.size() == 3);
    for (size_t k = 0; k < 3; ++k) {  // all but the timing columns
      CAPTURE(k);
      CHECK(a[k].epoch == b[k].epoch);
      CHECK(a[k].train_loss == b[k].train_loss);
      CHECK(a[k].train_acc == b[k].train_acc);
      CHECK(a[k].val_loss == b[k].val_loss);
      CHECK(a[k].val_acc == b[k].val_acc);
      CHECK(a[k].lr == b[k].lr);
    }
    CHECK(RunDir(dir / "extended").read_result().epochs_planned == 3);

    // Fewer epochs, or another key changed with it: the usual refusal.
    CHECK_THROWS_WITH_AS(run_graph(f.graph, options("extended", with_epochs(2))),
                         doctest::Contains("these keys differ (run -> now):\n  train.epochs: 3 -> 2"), UserError);
    auto both = with_epochs(4);
    both.push_back("train.lr=0.02");
    CHECK_THROWS_WITH_AS(run_graph(f.graph, options("extended", both)),
                         doctest::Contains("train.epochs: 3 -> 4\n  train.lr: 0.01 -> 0.02"), UserError);
  }

  TEST_CASE("a cosine run is not extended: the refusal says why and offers --fresh") {
    auto& f = trained();
    test::TempDir dir{"engine-extend"};
    RunOptions o;
    o.out = (dir / "cosine").string();
    o.data_root = f.data.string();
    o.sets = {"train.scheduler=cosine", "train.epochs=1"};
    run_graph(f.graph, o);
    o.sets = {"train.scheduler=cosine", "train.epochs=2"};
    try {
      run_graph(f.graph, o);
      FAIL("a cosine run must not be extended");
    } catch (const UserError& e) {
      std::string m = e.what();
      CHECK(m.find("cannot be extended from train.epochs = 1 to 2: its scheduler 'cosine' spreads the learning-rate "
                   "decay over train.epochs") != std::string::npos);
      CHECK(m.find("--fresh") != std::string::npos);
    }
    o.fresh = true;
    CHECK(run_graph(f.graph, o).epochs_done == 2);
  }

  TEST_CASE("epochs_extension: only a larger train.epochs, and only none and step schedules keep earlier epochs") {
    Value a = parse_toml_string("[train]\nepochs = 30\nscheduler = \"none\"\nlr = 0.1\n", "a");
    Value b = parse_toml_string("[train]\nepochs = 40\nscheduler = \"none\"\nlr = 0.1\n", "b");
    EpochsExtension x = epochs_extension(a, b);
    CHECK(x.only_epochs_grew);
    CHECK(x.schedule_independent);
    CHECK(x.from == 30);
    CHECK(x.to == 40);
    CHECK_FALSE(epochs_extension(b, a).only_epochs_grew);
    Value c = b;
    c.find("train")->set("lr", Value::of_float(0.2));
    CHECK_FALSE(epochs_extension(a, c).only_epochs_grew);
    a.find("train")->set("scheduler", Value::of_string("cosine"));
    b.find("train")->set("scheduler", Value::of_string("cosine"));
    CHECK(epochs_extension(a, b).only_epochs_grew);
    CHECK_FALSE(epochs_extension(a, b).schedule_independent);
  }
}
