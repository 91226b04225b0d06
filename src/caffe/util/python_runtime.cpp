#ifdef CAFFE_PYTHON_RUNTIME
#include "caffe/util/python_runtime.hpp"

#include <boost/python.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "caffe/common.hpp"

#ifndef CAFFE_PYTHON_EXECUTABLE
#error "CAFFE_PYTHON_EXECUTABLE must name the interpreter Caffe is built for"
#endif

namespace caffe {
namespace python {

namespace {

bool embedded = false;

void CheckStatus(PyStatus status, const char* what) {
  CHECK(!PyStatus_Exception(status)) << "Embedded Python: " << what << ": "
      << (status.err_msg ? status.err_msg : "unknown error");
}

// The traceback of the exception (type, value, traceback), as Python
// prints it.
std::string FormatException(PyObject* type, PyObject* value, PyObject* tb) {
  PyObject* module = PyImport_ImportModule("traceback");
  PyObject* lines = module ? PyObject_CallMethod(module, "format_exception",
      "OOO", type, value ? value : Py_None, tb ? tb : Py_None) : NULL;
  PyObject* empty = PyUnicode_FromString("");
  PyObject* text = lines && empty ? PyUnicode_Join(empty, lines) : NULL;
  const char* utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
  std::string result = utf8 ? utf8 : "(the traceback could not be formatted)\n";
  Py_XDECREF(text);
  Py_XDECREF(empty);
  Py_XDECREF(lines);
  Py_XDECREF(module);
  PyErr_Clear();
  return result;
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
  embedded = true;
  // Py_Initialize leaves the GIL with this thread; hand it back so that
  // solver threads can take it.
  PyEval_SaveThread();
}

bool IsEmbedded() { return embedded; }

void RaiseError(const std::string& where) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (!embedded) {
    if (value && tb) PyException_SetTraceback(value, tb);
    if (value) {
      PyObject* result = PyObject_CallMethod(value, "add_note", "s", where.c_str());
      Py_XDECREF(result);
      PyErr_Clear();  // add_note needs Python 3.11; the exception stands anyway
    }
    PyErr_Restore(type, value, tb);
    throw boost::python::error_already_set();
  }
  LOG(ERROR) << where << ":\n" << FormatException(type, value, tb);
  google::FlushLogFiles(google::GLOG_INFO);
  std::fflush(NULL);
  // Not exit(): this may be a solver thread while others still run.
  std::_Exit(1);
}

}  // namespace python
}  // namespace caffe
#endif  // CAFFE_PYTHON_RUNTIME
