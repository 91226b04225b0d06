#include "caffe/distributed.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifdef USE_MPI
#include <mpi.h>
#endif

#include "caffe/agreed_requests.hpp"
#include "caffe/net.hpp"
#include "caffe/syncedmem.hpp"
#include "caffe/util/fnv1a.hpp"
#include "caffe/util/math_functions.hpp"
#ifdef USE_NCCL
#include "caffe/parallel.hpp"
#endif

namespace caffe {
namespace distributed {

namespace {

// The number of ranks an MPI launcher (Open MPI, MPICH's Hydra, Slurm's
// PMIx) started, 0 without one, -1 when it does not say.
int LauncherRanks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return std::getenv("PMIX_RANK") ? -1 : 0;
}

}  // namespace

#ifndef USE_MPI

// Without MPI a launcher's ranks cannot find each other: each would train
// alone on the whole data set. Stop instead; a job of one is harmless.
bool JoinsMpiJob() {
  const int ranks = LauncherRanks();
  CHECK_LE(ranks, 1)
      << "This process is one of " << ranks << " ranks started by an MPI "
      << "launcher, but Caffe was built without USE_MPI, so each rank would "
      << "train alone. Rebuild with -DUSE_MPI=ON (CMake) or USE_MPI := 1 "
      << "(Makefile.config).";
  return false;
}

Job::Job(double) {
  LOG(FATAL) << "Caffe was built without USE_MPI";
}

Job::~Job() {}

std::vector<int> Job::LocalGpus(const std::vector<int>& node_gpus) const {
  return node_gpus;
}

void Job::SetSolverRanks(int) const {}

template <typename Dtype>
int Job::Train(const shared_ptr<Solver<Dtype> >&, const std::vector<int>&,
               const char*, ActionCallback) {
  return 1;
}

#else  // USE_MPI

bool JoinsMpiJob() {
  return LauncherRanks() != 0;
}

namespace {

// Tags of the messages with which a rank that timed out finds out which
// ranks are waiting with it and which never arrived.
const int kWhereAreYouTag = 7301;
const int kHereTag = 7302;
const int64_t kNoAnswer = INT64_MIN;

void CheckMpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  LOG(FATAL) << call << " failed: " << std::string(text, length);
}
#define MPI_CHECK(call) CheckMpi((call), #call)

template <typename Dtype> MPI_Datatype MpiType();
template <> MPI_Datatype MpiType<float>() { return MPI_FLOAT; }
template <> MPI_Datatype MpiType<double>() { return MPI_DOUBLE; }

// MPI counts are ints; large buffers go in pieces.
const size_t kMaxPiece = size_t(1) << 30;

// Answers the ranks that timed out and ask where this one is: it is waiting
// at `step` (an iteration, or -1 before training).
void AnswerPeers(int64_t step) {
  for (;;) {
    int asked = 0;
    MPI_Status status;
    MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, kWhereAreYouTag, MPI_COMM_WORLD,
                         &asked, &status));
    if (!asked) return;
    int question = 0;
    MPI_CHECK(MPI_Recv(&question, 1, MPI_INT, status.MPI_SOURCE,
                       kWhereAreYouTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    // Small enough to go eagerly: this does not wait for the asker.
    MPI_CHECK(MPI_Send(&step, 1, MPI_INT64_T, status.MPI_SOURCE, kHereTag,
                       MPI_COMM_WORLD));
  }
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

std::string Ranks(const std::vector<int>& ranks) {
  std::ostringstream out;
  out << (ranks.size() == 1 ? "rank " : "ranks ");
  for (size_t i = 0; i < ranks.size(); ++i) out << (i ? ", " : "") << ranks[i];
  return out.str();
}

// A rank that waited `waited` seconds ends the job, saying which ranks did
// not arrive. The ranks that are waiting too poll in Wait() and answer; a
// rank that is computing (or hung, or stuck in a Python layer) does not.
[[noreturn]] void EndStuckJob(const Job& job, const std::string& what,
                              int64_t step, double waited) {
  const int rank = job.rank(), size = job.size();
  const double timeout_s = job.timeout_s();
  std::vector<int64_t> answers(size, kNoAnswer);
  std::vector<MPI_Request> requests;
  const int question = 0;
  for (int peer = 0; peer < size; ++peer) {
    if (peer == rank) continue;
    requests.emplace_back();
    MPI_CHECK(MPI_Isend(&question, 1, MPI_INT, peer, kWhereAreYouTag,
                        MPI_COMM_WORLD, &requests.back()));
    requests.emplace_back();
    MPI_CHECK(MPI_Irecv(&answers[peer], 1, MPI_INT64_T, peer, kHereTag,
                        MPI_COMM_WORLD, &requests.back()));
  }
  const double grace_s = std::min(10.0, std::max(2.0, timeout_s / 10));
  const auto asked = std::chrono::steady_clock::now();
  int all_answered = 0;
  while (!all_answered && SecondsSince(asked) < grace_s) {
    MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(),
                          &all_answered, MPI_STATUSES_IGNORE));
    AnswerPeers(step);  // others may be timing out at the same moment
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<int> absent, waiting;
  std::ostringstream where;
  for (int peer = 0; peer < size; ++peer) {
    if (peer == rank) continue;
    if (answers[peer] == kNoAnswer) {
      absent.push_back(peer);
    } else {
      waiting.push_back(peer);
      where << (waiting.size() > 1 ? ", " : "") << peer;
      if (answers[peer] >= 0) where << " at iteration " << answers[peer];
    }
  }
  std::ostringstream message;
  message << "Rank " << rank << " waited " << static_cast<int>(waited)
          << " s for " << what;
  if (step >= 0) message << " at iteration " << step;
  message << " (--mpi_timeout " << timeout_s << " s). ";
  if (!absent.empty()) {
    message << Ranks(absent) << " did not arrive and did not answer within "
            << grace_s << " s (busy, hung or blocked)";
  } else {
    message << "every rank answered, so the collective itself is stalled "
            << "(network or MPI trouble)";
  }
  if (!waiting.empty()) message << "; waiting as well: " << where.str();
  message << ". Ending the job.";
  LOG(ERROR) << message.str();
  google::FlushLogFiles(google::GLOG_INFO);
  MPI_Abort(MPI_COMM_WORLD, 2);
  std::abort();  // MPI_Abort does not return
}

// Completes `requests`, answering peers meanwhile; past the job's timeout
// ends the job (see EndStuckJob).
void Wait(const Job& job, std::vector<MPI_Request>* requests,
          const std::string& what, int64_t step) {
  const auto start = std::chrono::steady_clock::now();
  for (int polls = 0;; ++polls) {
    int done = 0;
    MPI_CHECK(MPI_Testall(static_cast<int>(requests->size()), requests->data(),
                          &done, MPI_STATUSES_IGNORE));
    if (done) return;
    // Most waits are short: spin first, then give the core back (ranks are
    // often more than cores on a test machine).
    if (polls < 2000) continue;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (polls % 64) continue;
    AnswerPeers(step);
    const double waited = SecondsSince(start);
    if (job.timeout_s() > 0 && waited > job.timeout_s()) {
      EndStuckJob(job, what, step, waited);
    }
  }
}

template <typename Dtype>
void PostAllreduce(Dtype* data, size_t count, std::vector<MPI_Request>* requests) {
  for (size_t begin = 0; begin < count; begin += kMaxPiece) {
    requests->emplace_back();
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data + begin,
                             static_cast<int>(std::min(kMaxPiece, count - begin)),
                             MpiType<Dtype>(), MPI_SUM, MPI_COMM_WORLD,
                             &requests->back()));
  }
}

void PostBroadcast(void* data, size_t bytes, std::vector<MPI_Request>* requests) {
  char* bytes_data = static_cast<char*>(data);
  for (size_t begin = 0; begin < bytes; begin += kMaxPiece) {
    requests->emplace_back();
    MPI_CHECK(MPI_Ibcast(bytes_data + begin,
                         static_cast<int>(std::min(kMaxPiece, bytes - begin)),
                         MPI_BYTE, 0, MPI_COMM_WORLD, &requests->back()));
  }
}

// What every rank must agree on before training together.
enum Field { kDtypeBytes, kParamBlobs, kParamValues, kShapes, kLayers,
             kSolverType, kIteration, kDevices, kFields };

template <typename Dtype>
std::vector<int64_t> Describe(Solver<Dtype>* solver, int devices) {
  const Net<Dtype>& net = *solver->net();
  std::vector<int64_t> d(kFields, 0);
  d[kDtypeBytes] = sizeof(Dtype);
  uint64_t shapes = kFnv1aOffsetBasis, layers = shapes, type = shapes;
  for (const Blob<Dtype>* blob : net.learnable_params()) {
    ++d[kParamBlobs];
    d[kParamValues] += blob->count();
    const std::vector<int>& shape = blob->shape();
    const int axes = static_cast<int>(shape.size());
    shapes = Fnv1a(&axes, sizeof(axes), shapes);
    shapes = Fnv1a(shape.data(), shape.size() * sizeof(int), shapes);
  }
  for (const auto& layer : net.layers()) {
    const std::string& name = layer->layer_param().name();
    layers = Fnv1a(name.data(), name.size() + 1, layers);
    layers = Fnv1a(layer->type(), std::char_traits<char>::length(layer->type()) + 1, layers);
  }
  const std::string solver_type = solver->type();
  type = Fnv1a(solver_type.data(), solver_type.size(), type);
  d[kShapes] = static_cast<int64_t>(shapes);
  d[kLayers] = static_cast<int64_t>(layers);
  d[kSolverType] = static_cast<int64_t>(type);
  d[kIteration] = solver->iter();
  d[kDevices] = devices;
  return d;
}

// How rank `r`'s description differs from rank 0's, or "" if it does not.
std::string Difference(const int64_t* mine, const int64_t* root, int r) {
  std::ostringstream out;
  auto say = [&](const std::string& what) {
    out << (out.tellp() > 0 ? "; " : "") << what;
  };
  if (mine[kDtypeBytes] != root[kDtypeBytes]) {
    say("it trains in " + std::to_string(8 * mine[kDtypeBytes]) + "-bit floats, rank 0 in " +
        std::to_string(8 * root[kDtypeBytes]) + "-bit");
  }
  if (mine[kParamBlobs] != root[kParamBlobs] || mine[kParamValues] != root[kParamValues]) {
    say("its net has " + std::to_string(mine[kParamBlobs]) + " learnable blobs with " +
        std::to_string(mine[kParamValues]) + " values, rank 0's " +
        std::to_string(root[kParamBlobs]) + " with " + std::to_string(root[kParamValues]));
  } else if (mine[kShapes] != root[kShapes]) {
    say("its learnable blobs have other shapes than rank 0's");
  }
  if (mine[kLayers] != root[kLayers]) {
    say("its layers' names or types differ from rank 0's");
  }
  if (mine[kSolverType] != root[kSolverType]) say("its solver type differs from rank 0's");
  if (mine[kIteration] != root[kIteration]) {
    say("it starts at iteration " + std::to_string(mine[kIteration]) + ", rank 0 at " +
        std::to_string(root[kIteration]) + " (resumed from another snapshot?)");
  }
  if (mine[kDevices] != root[kDevices]) {
    say("it trains on " + std::to_string(mine[kDevices]) + " devices, rank 0 on " +
        std::to_string(root[kDevices]));
  }
  return out.tellp() > 0 ? "rank " + std::to_string(r) + ": " + out.str() : "";
}

// Keeps the ranks in step on the CPU: one contiguous buffer of weights and
// one of gradients (the blobs point into them), rank 0's weights broadcast
// once, gradients summed over the ranks and averaged every iteration, as
// Caffe's multi-GPU solver does. Stop and snapshot requests (signals) are
// agreed in the same exchange, so every rank leaves the loop together.
// With `reduce_gradients` false (NCCL reduces them) only requests are
// agreed.
template <typename Dtype>
class RankSync : public Solver<Dtype>::Callback {
 public:
  RankSync(const Job& job, Solver<Dtype>* solver,
           ActionCallback local_action, bool reduce_gradients)
      : job_(job), solver_(solver),
        local_action_(local_action), reduce_gradients_(reduce_gradients),
        agreed_(job.rank() == 0) {
    if (reduce_gradients_) Pack();
    solver_->add_callback(this);
    solver_->SetActionFunction([this] { return agreed_.Take(); });
  }

  void BroadcastWeights() {
    std::vector<MPI_Request> requests;
    PostBroadcast(data_->mutable_cpu_data(), count_ * sizeof(Dtype), &requests);
    Wait(job_, &requests, "rank 0's initial weights", solver_->iter());
  }

 protected:
  void on_start() {}

  void on_gradients_ready() {
    int requested = 0;
    if (local_action_) {
      const SolverAction::Enum action = local_action_();
      if (action != SolverAction::NONE) requested = 1 << action;
    }
    std::vector<MPI_Request> requests;
    Dtype* diff = nullptr;
    if (reduce_gradients_) {
      diff = static_cast<Dtype*>(diff_->mutable_cpu_data());
      PostAllreduce(diff, count_, &requests);
    }
    requests.emplace_back();
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, &requested, 1, MPI_INT, MPI_BOR,
                             MPI_COMM_WORLD, &requests.back()));
    Wait(job_, &requests, "the gradient all-reduce", solver_->iter());
    if (diff) caffe_scal(static_cast<int>(count_), Dtype(1) / job_.size(), diff);
    agreed_.Set((requested & (1 << SolverAction::STOP)) ? SolverAction::STOP
        : (requested & (1 << SolverAction::SNAPSHOT)) ? SolverAction::SNAPSHOT
        : SolverAction::NONE);
  }

 private:
  void Pack() {
    const std::vector<Blob<Dtype>*>& params = solver_->net()->learnable_params();
    count_ = 0;
    for (const Blob<Dtype>* blob : params) count_ += blob->count();
    // One value at least: an empty SyncedMemory has no host buffer.
    data_.reset(new SyncedMemory(std::max<size_t>(count_, 1) * sizeof(Dtype)));
    diff_.reset(new SyncedMemory(std::max<size_t>(count_, 1) * sizeof(Dtype)));
    Dtype* data = static_cast<Dtype*>(data_->mutable_cpu_data());
    Dtype* diff = static_cast<Dtype*>(diff_->mutable_cpu_data());
    for (Blob<Dtype>* blob : params) {
      caffe_copy(blob->count(), blob->cpu_data(), data);
      caffe_copy(blob->count(), blob->cpu_diff(), diff);
      // Blobs that share a parameter share this SyncedMemory, so they
      // follow it into the buffer too.
      blob->data()->set_cpu_data(data);
      blob->diff()->set_cpu_data(diff);
      data += blob->count();
      diff += blob->count();
    }
  }

  const Job& job_;
  Solver<Dtype>* solver_;
  ActionCallback local_action_;
  const bool reduce_gradients_;
  PendingRequest agreed_;  // snapshots are rank 0's
  size_t count_ = 0;
  shared_ptr<SyncedMemory> data_, diff_;
};

// Rank 0 runs the solver's whole schedule (tests, display, snapshots); the
// others only step. Both stop at the same iteration.
template <typename Dtype>
void Solve(const Job& job, Solver<Dtype>* solver) {
  if (job.rank() == 0) {
    solver->Solve();
  } else {
    solver->Step(solver->param().max_iter() - solver->iter());
  }
}

}  // namespace

Job::Job(double timeout_s) : timeout_s_(timeout_s) {
  int initialized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  CHECK(!initialized) << "One distributed::Job per process";
  // Only the thread that made the Job calls MPI (NCCL's threads do not).
  int provided = 0;
  MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm node;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_,
                                MPI_INFO_NULL, &node));
  MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
  MPI_CHECK(MPI_Comm_size(node, &local_size_));
  MPI_CHECK(MPI_Comm_free(&node));
  LOG(INFO) << "MPI: rank " << rank_ << " of " << size_ << " (" << local_rank_
            << " of " << local_size_ << " on this node)";
}

Job::~Job() {
  if (std::uncaught_exceptions() > 0) {
    // MPI_Finalize would wait for ranks that wait for this one. Leaving
    // without it lets the error end this process, and the launcher then
    // ends the whole job.
    LOG(ERROR) << "Rank " << rank_ << " failed; the MPI launcher ends the job";
    return;
  }
  MPI_Finalize();
}

std::vector<int> Job::LocalGpus(const std::vector<int>& node_gpus) const {
  if (node_gpus.empty() || local_size_ == 1) return node_gpus;
  const int per_rank = static_cast<int>(node_gpus.size()) / local_size_;
  CHECK(per_rank > 0 && node_gpus.size() % local_size_ == 0)
      << "Rank " << rank_ << ": --gpu lists " << node_gpus.size() << " GPUs "
      << "for the " << local_size_ << " ranks on this node; the ranks of a "
      << "node share its list out in order, so it needs a multiple of "
      << local_size_ << " GPUs (NCCL cannot put two ranks on one GPU)";
  return std::vector<int>(node_gpus.begin() + local_rank_ * per_rank,
                          node_gpus.begin() + (local_rank_ + 1) * per_rank);
}

void Job::SetSolverRanks(int devices_per_rank) const {
  const int devices = std::max(devices_per_rank, 1);
  Caffe::set_solver_count(size_ * devices);
  Caffe::set_solver_rank(rank_ * devices);
  Caffe::set_multiprocess(size_ > 1);
}

template <typename Dtype>
int Job::Train(const shared_ptr<Solver<Dtype> >& solver,
               const std::vector<int>& gpus, const char* snapshot,
               ActionCallback action) {
  // Every rank must have built the same net at the same iteration.
  const std::vector<int64_t> mine = Describe(solver.get(), static_cast<int>(gpus.size()));
  std::vector<int64_t> all(static_cast<size_t>(kFields) * size_);
  std::vector<MPI_Request> requests(1);
  MPI_CHECK(MPI_Iallgather(mine.data(), kFields, MPI_INT64_T, all.data(), kFields,
                           MPI_INT64_T, MPI_COMM_WORLD, &requests[0]));
  Wait(*this, &requests, "the other ranks' nets", solver->iter());
  std::string differences;
  for (int r = 1; r < size_; ++r) {
    const std::string d = Difference(&all[r * kFields], &all[0], r);
    if (!d.empty()) differences += "\n  " + d;
  }
  if (!differences.empty()) {
    if (rank_ == 0) {
      LOG(ERROR) << "The ranks did not build the same training job; every rank "
                 << "must run the same solver and net:" << differences;
    } else {
      LOG(ERROR) << "Rank " << rank_ << ": the ranks' nets differ (rank 0 says how)";
    }
    return 1;
  }

  if (gpus.empty()) {
    RankSync<Dtype> sync(*this, solver.get(), action, true);
    sync.BroadcastWeights();
    Solve(*this, solver.get());
    return 0;
  }
#ifdef USE_NCCL
  // One NCCL communicator over every GPU of every rank: rank 0 makes its
  // id, MPI carries it to the others.
  std::string uid(NCCL_UNIQUE_ID_BYTES, '\0');
  if (rank_ == 0) uid = NCCL<Dtype>::new_uid();
  requests.resize(0);
  PostBroadcast(&uid[0], uid.size(), &requests);
  Wait(*this, &requests, "rank 0's NCCL id", solver->iter());
  // With several GPUs, NCCL::Run passes the requests agreed here on to the
  // rank's GPU threads
  // (patches/0033-gpu-threads-agree-on-stop-requests.patch).
  RankSync<Dtype> sync(*this, solver.get(), action, false);
  if (gpus.size() == 1) {
    NCCL<Dtype> nccl(solver, uid);
    solver->add_callback(&nccl);
    if (solver->param().layer_wise_reduce()) solver->net()->add_after_backward(&nccl);
    nccl.Broadcast();
    Solve(*this, solver.get());
  } else {
    NCCL<Dtype> nccl(solver);
    nccl.Run(gpus, snapshot, uid);
  }
  return 0;
#else
  LOG(FATAL) << "Training on GPUs across processes needs NCCL: rebuild with "
             << "USE_NCCL=ON";
  return 1;
#endif
}

#endif  // USE_MPI

template int Job::Train<float>(const shared_ptr<Solver<float> >&,
                               const std::vector<int>&, const char*, ActionCallback);
template int Job::Train<double>(const shared_ptr<Solver<double> >&,
                                const std::vector<int>&, const char*, ActionCallback);

}  // namespace distributed
}  // namespace caffe
