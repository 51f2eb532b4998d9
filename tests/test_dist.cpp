// Data parallel training: ranks as threads of this process (to compare their tensors), then as
// processes of the engine binary (the launcher, resume, a dead rank, agreed stops).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "engine/core/run_dir.hpp"
#include "engine/nn/dist/ddp.hpp"
#include "engine/nn/dist/world.hpp"
#include "engine/nn/runner/optimizer.hpp"
#include "engine/nn/runner/prepare.hpp"
#include "engine/nn/runner/trainer.hpp"
#include "tests/support.hpp"

using namespace engine;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof a;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &size);
  close(s);
  return ntohs(a.sin_port);
}

// A graph without BatchNorm (so 2 x 32 is 1 x 64 up to rounding), and one with it.
std::string plain_graph(const std::string& name) {
  std::string g = test::tiny_graph(name);
  g.replace(g.find("[[layers]]\nop = \"batchnorm2d\"\n"), std::string("[[layers]]\nop = \"batchnorm2d\"\n").size(), "");
  return g;
}

const std::vector<std::string> kSets{"train.batch_size=64", "train.precision=fp32",   "train.memory_format=contiguous",
                                     "train.threads=1",     "data.augment.flip=true", "data.augment.crop_padding=2"};

struct Fixture {
  test::TempDir dir{"engine-dist"};
  fs::path data = dir / "data";
  Fixture() { test::write_tiny_dataset(data, 3, 48, 8); }  // 108 train images: batches of 64 and 44
  RunInputs inputs(const std::string& out) const {
    RunInputs in;
    in.out = (dir / out).string();
    in.data_root = data.string();
    in.sets = kSets;
    return in;
  }
};

struct RankRun {
  std::vector<torch::Tensor> params, buffers;
  std::vector<EpochRow> rows;
};

std::mutex g_build;  // torch's default generator is shared by the threads

// Trains `graph` as rank `rank` of `world` (a group joined here; none when world is 1), starting
// from weights of `seed`, which a group replaces with rank 0's.
RankRun train_as_rank(const fs::path& graph, const RunInputs& in, int rank, int world, int port, uint64_t seed) {
  Prepared p = resolve(graph, in);
  std::unique_ptr<dist::ProcessGroup> group;
  if (world > 1) {
    dist::WorldInfo w;
    w.rank = rank, w.size = world, w.local_rank = rank, w.master_port = port, w.source = "test";
    group = dist::ProcessGroup::join(w, false, 30s);
    p.group = group.get();
  }
  prepare_data(p, in, data::TestSplit::Skip);
  p.hw.threads = 1;
  {
    std::lock_guard<std::mutex> lock(g_build);
    torch::manual_seed(seed);
    p.model = build_model(p.graph);
  }
  if (group) dist::broadcast_state(*group, *p.model);
  auto opt = make_optimizer(p.train, p.model->parameters());
  data::BatchLoader train = train_loader(p), val = eval_loader(p, p.data.val);
  Trainer trainer(p.model, *opt, train, val, p.train, p.hw, p.group);
  RankRun out;
  TrainerCallbacks cb;
  cb.epoch_done = [&](const EpochReport& e, const CheckpointInfo&) { out.rows.push_back(e.row); };
  CheckpointInfo state;
  trainer.run(state, 0, cb);
  for (const auto& t : p.model->parameters()) out.params.push_back(t.detach().clone());
  for (const auto& t : p.model->buffers()) out.buffers.push_back(t.detach().clone());
  return out;
}

std::vector<RankRun> train_ranks(const fs::path& graph, const RunInputs& in, int world) {
  const int port = free_port();
  std::vector<RankRun> runs(world);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        runs[r] = train_as_rank(graph, in, r, world, port, 100 + r);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    CAPTURE(r);
    REQUIRE(errors[r] == "");
  }
  return runs;
}

struct Threads {  // one intra-op thread for the length of a test, as each rank would have
  int before = torch::get_num_threads();
  Threads() { torch::set_num_threads(1); }
  ~Threads() { torch::set_num_threads(before); }
};

// The engine binary with `env` added, output to `log`; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
            const fs::path& log, const fs::path& cwd = {}) {
  std::vector<std::string> argv{ENGINE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    FILE* f = std::fopen(log.c_str(), "w");
    dup2(fileno(f), 1);
    dup2(fileno(f), 2);
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    execv(ENGINE_BINARY, c.data());
    _exit(127);
  }
  return pid;
}

// Exit code (128 + signal when killed), or -1 when still running after `limit`.
int wait_for(pid_t pid, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
    std::this_thread::sleep_for(50ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

int run_engine(const std::vector<std::string>& args, const fs::path& log) {
  return wait_for(spawn(args, {}, log), 300s);
}

size_t rows_in(const fs::path& metrics) {
  std::string text = test::read_file(metrics);
  return text.empty() ? 0 : static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) - 1;
}

std::vector<std::string> engine_args(const Fixture& f, const fs::path& graph, const std::string& out,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> a{"run", graph.string(), "--data", f.data.string(), "--run-dir", (f.dir / out).string()};
  for (const auto& s : kSets)
    if (s != "train.threads=1") a.insert(a.end(), {"--set", s});
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}
}  // namespace

// Ranks need c10d's Gloo backend, which a build without libgloo-dev lacks.
#define SKIP_WITHOUT_GLOO()                                       \
  if (!dist::gloo_available()) {                                  \
    MESSAGE("built without c10d Gloo (libgloo-dev): not tested"); \
    return;                                                       \
  }

TEST_SUITE("dist") {
  TEST_CASE("the launcher contract: RANK/WORLD_SIZE, Slurm's variables and node lists") {
    CHECK(dist::first_slurm_host("node[01-04,07],gpu2") == "node01");
    CHECK(dist::first_slurm_host("gpu-a,gpu-b") == "gpu-a");
    CHECK(dist::first_slurm_host("n[7]") == "n7");
    CHECK(dist::first_slurm_host("single") == "single");
    CHECK_FALSE(dist::world_from_env().distributed());

    setenv("SLURM_PROCID", "1", 1);
    setenv("SLURM_NTASKS", "4", 1);
    setenv("SLURM_LOCALID", "1", 1);
    setenv("SLURM_JOB_NODELIST", "cn[12-13]", 1);
    setenv("SLURM_JOB_ID", "4242", 1);
    dist::WorldInfo s = dist::world_from_env();
    CHECK(s.rank == 1);
    CHECK(s.size == 4);
    CHECK(s.local_rank == 1);
    CHECK(s.master_addr == "cn12");
    CHECK(s.master_port == 29500 + 4242);
    CHECK(s.source == "Slurm");
    for (const char* v : {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_JOB_NODELIST", "SLURM_JOB_ID"})
      unsetenv(v);

    setenv("RANK", "2", 1);
    CHECK_THROWS_WITH_AS(dist::world_from_env(), doctest::Contains("WORLD_SIZE is not set"), UserError);
    setenv("WORLD_SIZE", "2", 1);
    CHECK_THROWS_WITH_AS(dist::world_from_env(), doctest::Contains("RANK='2' must be an integer in [0, 1]"), UserError);
    setenv("RANK", "1", 1);
    setenv("MASTER_ADDR", "10.0.0.5", 1);
    setenv("MASTER_PORT", "1234", 1);
    dist::WorldInfo t = dist::world_from_env();
    CHECK(t.rank == 1);
    CHECK(t.size == 2);
    CHECK(t.master_addr == "10.0.0.5");
    CHECK(t.master_port == 1234);
    // A rank does not start ranks of its own.
    auto nested = test::run_cli({"run", "whatever.toml", "--nproc", "2"});
    CHECK(nested.code == 2);
    CHECK(nested.err.find("already one of several ranks") != std::string::npos);
    for (const char* v : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
    if (!dist::gloo_available()) {  // a build without libgloo-dev says so
      auto r = test::run_cli({"run", "whatever.toml", "--nproc", "2"});
      CHECK(r.code == 2);
      CHECK(r.err.find("install libgloo-dev") != std::string::npos);
    }
  }

  TEST_CASE(
      "a launched process takes its threads from the launcher: OMP_NUM_THREADS, Slurm's -c, cores / local ranks") {
    for (const char* v : {"OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE", "LOCAL_WORLD_SIZE"})
      unsetenv(v);                                       // as a shell inside an allocation would have them
    CHECK_FALSE(dist::launcher_threads(8).has_value());  // alone, unlaunched: every core
    setenv("SLURM_CPUS_PER_TASK", "3", 1);
    CHECK(dist::launcher_threads(8) == 3);  // an sbatch array task with -c 3
    setenv("OMP_NUM_THREADS", "2,1", 1);
    CHECK(dist::launcher_threads(8) == 2);  // torchrun's variable first
    unsetenv("OMP_NUM_THREADS");
    unsetenv("SLURM_CPUS_PER_TASK");
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_NTASKS", "8", 1);
    CHECK(dist::launcher_threads(8) == 1);  // no count per node: as if all 8 ranks shared this host
    setenv("SLURM_TASKS_PER_NODE", "2(x4)", 1);
    CHECK(dist::launcher_threads(8) == 4);
    setenv("SLURM_CPUS_ON_NODE", "4", 1);
    CHECK(dist::launcher_threads(8) == 2);  // the job's 4 CPUs on this node, not the host's 8
    setenv("SLURM_NTASKS", "1", 1);
    CHECK(dist::launcher_threads(8) == 4);  // an sbatch task alone: all of the job's CPUs
    setenv("SLURM_CPUS_PER_TASK", "zero", 1);
    CHECK_THROWS_WITH_AS(dist::launcher_threads(8), doctest::Contains("SLURM_CPUS_PER_TASK='zero'"), UserError);
    for (const char* v :
         {"SLURM_CPUS_PER_TASK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_TASKS_PER_NODE", "SLURM_CPUS_ON_NODE"})
      unsetenv(v);
  }

  TEST_CASE("two ranks started the torchrun way with OMP_NUM_THREADS=1 train on 1 thread each; [train].threads wins") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    fs::path graph = f.dir.write("omp.toml", test::tiny_graph("omp"));
    for (const std::string threads : {"", "2"}) {
      CAPTURE(threads);
      const std::string out_dir = "omp" + threads;
      std::vector<std::string> args = engine_args(f, graph, out_dir, {"--set", "train.epochs=1"});
      if (!threads.empty()) args.insert(args.end(), {"--set", "train.threads=" + threads});
      const std::string port = std::to_string(free_port());
      auto env_of = [&](int rank) {
        return std::vector<std::pair<std::string, std::string>>{
            {"RANK", std::to_string(rank)}, {"WORLD_SIZE", "2"},   {"LOCAL_RANK", std::to_string(rank)},
            {"MASTER_ADDR", "127.0.0.1"},   {"MASTER_PORT", port}, {"OMP_NUM_THREADS", "1"}};
      };
      pid_t r0 = spawn(args, env_of(0), f.dir / "r0.log");
      pid_t r1 = spawn(args, env_of(1), f.dir / "r1.log");
      CHECK(wait_for(r0, 300s) == 0);
      CHECK(wait_for(r1, 60s) == 0);
      std::string log = test::read_file(f.dir / out_dir / "train.log");
      INFO(log);
      const std::string expected = threads.empty() ? "1" : threads;
      CHECK(log.find("on 2 ranks x cpu (" + expected + " threads)") != std::string::npos);
    }
  }

  TEST_CASE("after several steps every rank holds bit-identical weights (BatchNorm, augmentation, other seeds)") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    Threads one;
    fs::path graph = f.dir.write("bn.toml", test::tiny_graph("bn"));
    RunInputs in = f.inputs("bn");
    in.sets.push_back("train.epochs=3");
    auto runs = train_ranks(graph, in, 2);  // 3 epochs of 2 steps, ranks seeded 100 and 101
    REQUIRE(runs[0].params.size() == runs[1].params.size());
    for (size_t k = 0; k < runs[0].params.size(); ++k) {
      CAPTURE(k);
      CHECK(torch::equal(runs[0].params[k], runs[1].params[k]));
    }
    for (size_t k = 0; k < runs[0].buffers.size(); ++k) CHECK(torch::equal(runs[0].buffers[k], runs[1].buffers[k]));
    REQUIRE(runs[0].rows.size() == 3);
    for (size_t e = 0; e < 3; ++e) {  // every rank reports the whole epoch's figures
      CHECK(runs[0].rows[e].train_loss == runs[1].rows[e].train_loss);
      CHECK(runs[0].rows[e].val_acc == runs[1].rows[e].val_acc);
    }
  }

  TEST_CASE("without BatchNorm, 2 ranks x 32 train as 1 process x 64 on the same permutation, to 1e-5") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    Threads one;
    fs::path graph = f.dir.write("plain.toml", plain_graph("plain"));
    RunInputs in = f.inputs("plain");
    in.sets.push_back("train.epochs=3");
    auto ranks = train_ranks(graph, in, 2);
    RankRun single = train_as_rank(graph, in, 0, 1, 0, 100);
    REQUIRE(single.params.size() == ranks[0].params.size());
    for (size_t k = 0; k < single.params.size(); ++k) {
      CAPTURE(k);
      double diff = (single.params[k] - ranks[0].params[k]).abs().max().item<double>();
      CHECK(diff < 1e-5);
      CHECK(diff < 1e-5 * std::max(1.0, single.params[k].abs().max().item<double>()));
    }
    for (size_t e = 0; e < 3; ++e) {
      CHECK(ranks[0].rows[e].train_loss == doctest::Approx(single.rows[e].train_loss).epsilon(1e-5));
      CHECK(ranks[0].rows[e].val_loss == doctest::Approx(single.rows[e].val_loss).epsilon(1e-5));
      CHECK(ranks[0].rows[e].train_acc == single.rows[e].train_acc);
      CHECK(ranks[0].rows[e].val_acc == single.rows[e].val_acc);
    }
  }

  TEST_CASE("engine run --nproc 2: one metrics row per epoch, rank 0 alone writes; a resumed run matches a whole one") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    fs::path graph = f.dir.write("tiny.toml", test::tiny_graph("tiny"));
    REQUIRE(run_engine(engine_args(f, graph, "whole", {"--nproc", "2", "--set", "train.epochs=3"}),
                       f.dir / "whole.log") == 0);
    CHECK(rows_in(f.dir / "whole" / "metrics.csv") == 3);
    std::string log = test::read_file(f.dir / "whole" / "train.log");
    CHECK(log.find("data parallel on 2 ranks: train.batch_size 64 is the global batch, 32 images per rank") !=
          std::string::npos);
    CHECK(log.find("on 2 ranks x cpu (1 threads)") != std::string::npos);
    size_t epoch_lines = 0;
    for (size_t at = log.find("epoch  1/3"); at != std::string::npos; at = log.find("epoch  1/3", at + 1))
      ++epoch_lines;
    CHECK(epoch_lines == 1);
    std::string out = test::read_file(f.dir / "whole.log");
    CHECK(out.find("[rank 1]") == std::string::npos);  // rank 1 has nothing to say when all goes well

    // Stopped after an epoch, then resumed from last.pt on both ranks.
    REQUIRE(run_engine(engine_args(f, graph, "parts", {"--nproc", "2", "--set", "train.epochs=3", "--stop-after", "1"}),
                       f.dir / "p1.log") == 0);
    CHECK(rows_in(f.dir / "parts" / "metrics.csv") == 1);
    REQUIRE(run_engine(engine_args(f, graph, "parts", {"--nproc", "2", "--set", "train.epochs=3"}), f.dir / "p2.log") ==
            0);
    CHECK(test::read_file(f.dir / "p2.log").find("resuming after epoch 1") != std::string::npos);
    auto a = RunDir(f.dir / "whole").read_metrics();
    auto b = RunDir(f.dir / "parts").read_metrics();
    REQUIRE(a.size() == 3);
    REQUIRE(b.size() == 3);
    for (size_t k = 0; k < 3; ++k) {
      CAPTURE(k);
      CHECK(a[k].train_loss == doctest::Approx(b[k].train_loss).epsilon(1e-6));
      CHECK(a[k].val_loss == doctest::Approx(b[k].val_loss).epsilon(1e-6));
      CHECK(a[k].val_acc == b[k].val_acc);
    }
  }

  TEST_CASE("engine study --nproc 2 trains each stage on the ranks, tests the winner and writes one report") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    std::string base = test::tiny_graph("base");
    base.replace(base.find("epochs = 2"), 10, "epochs = 1");
    f.dir.write("base.toml", base);
    f.dir.write("w-narrow.toml", "extends = \"base.toml\"\nname = \"w-narrow\"\n[vars]\nwidth = 2\n");
    f.dir.write("w-wide.toml", "extends = \"base.toml\"\nname = \"w-wide\"\n[vars]\nwidth = 16\n");
    fs::path study = f.dir.write(
        "study.toml",
        "seeds = [0]\n[[stages]]\nname = \"W\"\ngraphs = [\"w-narrow.toml\", \"w-wide.toml\"]\nfinal = true\n");
    int code = wait_for(spawn({"study", study.string(), "--nproc", "2", "--data", f.data.string()}, {},
                              f.dir / "study.log", f.dir.path()),
                        300s);
    std::string out = test::read_file(f.dir / "study.log");
    INFO(out);
    REQUIRE(code == 0);
    CHECK(fs::exists(f.dir / "runs" / "report.md"));
    CHECK(rows_in(f.dir / "runs" / "w-narrow-s0" / "metrics.csv") == 1);
    CHECK((fs::exists(f.dir / "runs" / "w-narrow-s0" / "test" / "metrics.toml") ||
           fs::exists(f.dir / "runs" / "w-wide-s0" / "test" / "metrics.toml")));
    size_t tests = 0;
    for (size_t at = out.find("[study] test accuracy"); at != std::string::npos;
         at = out.find("[study] test accuracy", at + 1))
      ++tests;
    CHECK(tests == 1);  // rank 1 prints nothing but errors
    CHECK(out.find("[rank 1]") == std::string::npos);
  }

  TEST_CASE("a diverging loss on the ranks stops all of them with the batch named") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    fs::path graph = f.dir.write("nan.toml", test::tiny_graph("nan"));
    int code = run_engine(engine_args(f, graph, "nan", {"--nproc", "2", "--set", "train.lr=1e30"}), f.dir / "nan.log");
    CHECK(code == 2);
    std::string out = test::read_file(f.dir / "nan.log");
    INFO(out);
    CHECK(out.find("error: training diverged") != std::string::npos);
    CHECK(out.find("at epoch 1, batch ") != std::string::npos);
    CHECK(out.find("[rank 1] error: training diverged") != std::string::npos);
  }

  TEST_CASE("a rank that dies or hangs makes the other exit with an error within the collective timeout") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    fs::path graph = f.dir.write("long.toml", test::tiny_graph("long"));
    // Ranks started by hand, as a cluster's launcher would; SIGKILL closes rank 1's sockets at
    // once, SIGSTOP leaves them open and silent, so only the timeout (3 s here) can end the wait.
    for (int sig : {SIGKILL, SIGSTOP}) {
      CAPTURE(sig);
      const std::string out_dir = "long" + std::to_string(sig);
      std::vector<std::string> args =
          engine_args(f, graph, out_dir, {"--set", "train.epochs=100000", "--set", "train.threads=1"});
      const std::string port = std::to_string(free_port());
      auto env_of = [&](int rank) {
        return std::vector<std::pair<std::string, std::string>>{{"RANK", std::to_string(rank)},
                                                                {"WORLD_SIZE", "2"},
                                                                {"MASTER_ADDR", "127.0.0.1"},
                                                                {"MASTER_PORT", port},
                                                                {"ENGINE_DIST_TIMEOUT", "3"}};
      };
      pid_t r0 = spawn(args, env_of(0), f.dir / "r0.log");
      pid_t r1 = spawn(args, env_of(1), f.dir / "r1.log");
      auto started = std::chrono::steady_clock::now();
      while (rows_in(f.dir / out_dir / "metrics.csv") < 1 && std::chrono::steady_clock::now() - started < 120s)
        std::this_thread::sleep_for(100ms);
      REQUIRE(rows_in(f.dir / out_dir / "metrics.csv") >= 1);  // both are training
      kill(r1, sig);
      auto hit = std::chrono::steady_clock::now();
      int code = wait_for(r0, 60s);
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - hit).count();
      kill(r1, SIGKILL);
      wait_for(r1, 5s);
      std::string out = test::read_file(f.dir / "r0.log");
      INFO(out);
      CHECK(code == 1);
      CHECK(seconds < 3 + 5);
      CHECK(out.find("error: rank 0 of 2: ") != std::string::npos);
      CHECK(out.find("another rank exited or did not answer within 3 s") != std::string::npos);
    }
  }

  TEST_CASE("SIGINT to the launcher stops every rank at one agreed batch; the run resumes") {
    SKIP_WITHOUT_GLOO();
    Fixture f;
    fs::path graph = f.dir.write("stop.toml", test::tiny_graph("stop"));
    pid_t launcher =
        spawn(engine_args(f, graph, "stop", {"--nproc", "2", "--set", "train.epochs=100000"}), {}, f.dir / "stop.log");
    auto started = std::chrono::steady_clock::now();
    while (rows_in(f.dir / "stop" / "metrics.csv") < 1 && std::chrono::steady_clock::now() - started < 120s)
      std::this_thread::sleep_for(100ms);
    REQUIRE(rows_in(f.dir / "stop" / "metrics.csv") >= 1);
    kill(launcher, SIGINT);
    int code = wait_for(launcher, 30s);
    std::string out = test::read_file(f.dir / "stop.log");
    INFO(out);
    CHECK(code == 130);
    CHECK(out.find("interrupted during epoch") != std::string::npos);
    CHECK(out.find("error") == std::string::npos);
  }
}
