#ifdef WITH_PYTHON_LAYER
#include "caffe/layers/python_layer.hpp"

#include <string>

#include "caffe/layer_factory.hpp"
#include "caffe/util/python_runtime.hpp"

namespace caffe {

// Imports python_param.module, constructs python_param.layer from it, and
// returns the layer. The Python object is released under the GIL, from
// whichever thread drops the last reference.
template <typename Dtype>
shared_ptr<Layer<Dtype> > GetPythonLayer(const LayerParameter& param) {
  python::EnsureInitialized();
  python::GilLock gil;
  const PythonParameter& python_param = param.python_param();
  const string where = "Python layer '" + param.name() + "' (" +
      python_param.module() + "." + python_param.layer() + ")";
  bp::object module;
  try {
    module = bp::import(python_param.module().c_str());
  } catch (const bp::error_already_set&) {
    python::RaiseError(where + ": cannot import module '" +
                       python_param.module() + "'");
  }
  shared_ptr<PythonLayer<Dtype> > layer;
  try {
    if (!PyObject_HasAttrString(module.ptr(), python_param.layer().c_str())) {
      PyErr_Format(PyExc_AttributeError, "module '%s' has no class '%s'",
                   python_param.module().c_str(), python_param.layer().c_str());
      bp::throw_error_already_set();
    }
    bp::object instance = module.attr(python_param.layer().c_str())(param);
    layer = bp::extract<shared_ptr<PythonLayer<Dtype> > >(instance)();
  } catch (const bp::error_already_set&) {
    python::RaiseError(where + ": cannot construct the layer");
  }
  return shared_ptr<Layer<Dtype> >(layer.get(),
      [layer](Layer<Dtype>*) mutable {
        python::GilLock gil;
        layer.reset();
      });
}

REGISTER_LAYER_CREATOR(Python, GetPythonLayer);

}  // namespace caffe
#endif  // WITH_PYTHON_LAYER
