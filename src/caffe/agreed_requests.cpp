#include "caffe/agreed_requests.hpp"

namespace caffe {

template <typename Dtype>
AgreedRequests<Dtype>::AgreedRequests(int solvers, ActionCallback source)
    : source_(source), barrier_(solvers), members_(solvers) {
  answers_[0] = answers_[1] = SolverAction::NONE;
}

template <typename Dtype>
void AgreedRequests<Dtype>::Join(Solver<Dtype>* solver, int index) {
  CHECK(index >= 0 && index < static_cast<int>(members_.size()))
      << "AgreedRequests: solver index " << index << " of "
      << members_.size();
  CHECK(!members_[index]) << "AgreedRequests: solver " << index
                          << " joined twice";
  members_[index].reset(new Member(this, index));
  Member* member = members_[index].get();
  solver->add_callback(member);
  solver->SetActionFunction([member] { return member->Take(); });
}

template <typename Dtype>
void AgreedRequests<Dtype>::Member::on_start() {
  SolverAction::Enum& answer = group_->answers_[rounds_ & 1];
  if (index_ == 0) {
    answer = group_->source_ ? group_->source_() : SolverAction::NONE;
  }
  group_->barrier_.wait();
  pending_.Set(answer);
  ++rounds_;
}

INSTANTIATE_CLASS(AgreedRequests);

}  // namespace caffe
