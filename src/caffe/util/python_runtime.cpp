#ifdef WITH_PYTHON_LAYER
#include <Python.h>

#include <cstdlib>

#include "caffe/common.hpp"
#include "caffe/util/python_runtime.hpp"

#ifndef CAFFE_PYTHON_EXECUTABLE
#error "CAFFE_PYTHON_EXECUTABLE must name the interpreter Caffe is built for"
#endif

namespace caffe {
namespace python {

namespace {

void CheckStatus(PyStatus status, const char* what) {
  CHECK(!PyStatus_Exception(status)) << "Embedded Python: " << what << ": "
      << (status.err_msg ? status.err_msg : "unknown error");
}

}  // namespace

void EnsureInitialized() {
  if (Py_IsInitialized()) return;
  const char* env = std::getenv("CAFFE_PYTHON");
  const char* executable = env && *env ? env : CAFFE_PYTHON_EXECUTABLE;
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  // Python derives sys.prefix, and so the standard library and
  // site-packages (a venv's pyvenv.cfg included), from the program's path.
  CheckStatus(PyConfig_SetBytesString(&config, &config.program_name,
      executable), "cannot set the program name");
  CheckStatus(Py_InitializeFromConfig(&config), "cannot start the interpreter");
  PyConfig_Clear(&config);
}

}  // namespace python
}  // namespace caffe
#endif  // WITH_PYTHON_LAYER
