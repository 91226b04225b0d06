#ifdef WITH_PYTHON_LAYER
#include "caffe/layers/python_layer.hpp"

#include "caffe/layer_factory.hpp"
#include "caffe/util/python_runtime.hpp"

namespace caffe {

template <typename Dtype>
shared_ptr<Layer<Dtype> > GetPythonLayer(const LayerParameter& param) {
  python::EnsureInitialized();
  try {
    bp::object module = bp::import(param.python_param().module().c_str());
    bp::object layer = module.attr(param.python_param().layer().c_str())(param);
    return bp::extract<shared_ptr<PythonLayer<Dtype> > >(layer)();
  } catch (const bp::error_already_set&) {
    PyErr_Print();
    throw;
  }
}

REGISTER_LAYER_CREATOR(Python, GetPythonLayer);

}  // namespace caffe
#endif  // WITH_PYTHON_LAYER
