// Defaults for builds with GCC's sanitizers (-DCAFFE_SANITIZE=address,
// undefined; CI's sanitize stage). Their runtimes read these hooks, so every
// program linked with libcaffe gets them without environment variables. In
// any other build this file is empty.
#ifdef __SANITIZE_ADDRESS__

// LeakSanitizer: only leaks that are by design or in upstream's test code,
// each with why. A leak in libcaffe or in the fork's code is fixed instead.
extern "C" const char* __lsan_default_suppressions() {
  return
      // The embedded interpreter of Python layers is never finalized
      // (finalizing it while solver threads may hold Python objects is not
      // safe, and the process ends just after): what Python, NumPy, and
      // the modules of pycaffe and its protobuf runtime hold stays.
      "leak:libpython3\n"
      "leak:_multiarray_umath\n"
      "leak:init_module__caffe\n"
      "leak:boost::python::objects::function_object\n"
      "leak:upb_Arena\n"
      // Upstream's test fixtures and bodies that allocate blobs with new and
      // never delete them (test code only).
      "leak:caffe::SPPLayerTest<\n"
      "leak:InnerProductLayerTest_TestForwardTranspose_Test\n"
      "leak:InnerProductLayerTest_TestBackwardTranspose_Test\n"
      "leak:HDF5OutputLayerTest_TestForward_Test\n";
}

// UndefinedBehaviorSanitizer stops at the first report: with its stack.
extern "C" const char* __ubsan_default_options() {
  return "print_stacktrace=1";
}

#endif  // __SANITIZE_ADDRESS__
