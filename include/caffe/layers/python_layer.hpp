#ifndef CAFFE_PYTHON_LAYER_HPP_
#define CAFFE_PYTHON_LAYER_HPP_

#include <boost/python.hpp>

#include <string>
#include <vector>

#include "caffe/layer.hpp"
#include "caffe/util/python_runtime.hpp"

namespace bp = boost::python;

namespace caffe {

/**
 * @brief A layer written in Python (type: "Python"), for prototyping.
 *
 * Every call into Python holds the GIL, so the layer runs from any thread:
 * the solver threads of multi-GPU training (each has its own net and so its
 * own layer instance) and Python threads that pycaffe lets run while C++
 * computes. Before setup the layer gets `param_str`, `phase`,
 * `solver_rank` and `solver_count`. A Python exception names the layer: the
 * caffe CLI prints its traceback and exits with status 1; pycaffe raises it.
 */
template <typename Dtype>
class PythonLayer : public Layer<Dtype> {
 public:
  PythonLayer(PyObject* self, const LayerParameter& param)
      : Layer<Dtype>(param), self_(self) { }

  virtual void LayerSetUp(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
    Call("setup", [&]() {
      bp::object layer = self();
      layer.attr("param_str") = bp::str(
          this->layer_param_.python_param().param_str());
      layer.attr("phase") = static_cast<int>(this->phase_);
      layer.attr("solver_rank") = Caffe::solver_rank();
      layer.attr("solver_count") = Caffe::solver_count();
      layer.attr("setup")(bottom, top);
    });
  }
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
    Call("reshape", [&]() { self().attr("reshape")(bottom, top); });
  }

  virtual inline const char* type() const { return "Python"; }

  // The Python object this layer belongs to (Boost.Python constructs the
  // layer inside it, and frees it with it). The caller holds the GIL.
  bp::object self() const {
    return bp::object(bp::handle<>(bp::borrowed(self_)));
  }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
    Call("forward", [&]() { self().attr("forward")(bottom, top); });
  }
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
    Call("backward", [&]() {
      self().attr("backward")(top, propagate_down, bottom);
    });
  }

 private:
  template <typename Function>
  void Call(const char* method, Function function) {
    python::GilLock gil;
    try {
      function();
    } catch (const bp::error_already_set&) {
      const PythonParameter& param = this->layer_param_.python_param();
      python::RaiseError("Python layer '" + this->layer_param_.name() + "' (" +
          param.module() + "." + param.layer() + ") failed in " + method);
    }
  }

  // Borrowed: a counted reference here made a cycle that Python's collector
  // cannot see, and every Python layer lived, with all it held, until the
  // process ended.
  PyObject* const self_;
};

}  // namespace caffe

#endif  // CAFFE_PYTHON_LAYER_HPP_
