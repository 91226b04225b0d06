// Full occupancy for __launch_bounds__: CAFFE_FULL_OCCUPANCY_BLOCKS(threads)
// is how many blocks of `threads` fill one SM's thread slots on the
// architecture being compiled, so that the bound caps the kernel's registers
// at 65536 / (thread slots per SM). Slots per SM: 1024 on Turing (7.5); 1536
// on GA10x (8.6), Orin (8.7), Ada (8.9) and desktop Blackwell (12.x); 2048 on
// the data-centre parts (8.0, 9.0, 10.x). A count above what the SM holds is
// not a stricter bound: ptxas drops it with a warning and the registers go
// uncapped.
#ifndef CAFFE_UTIL_GPU_OCCUPANCY_CUH_
#define CAFFE_UTIL_GPU_OCCUPANCY_CUH_

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 750
#define CAFFE_SM_THREAD_SLOTS 1024
#elif defined(__CUDA_ARCH__) &&                                   \
    (__CUDA_ARCH__ == 860 || __CUDA_ARCH__ == 870 ||              \
     __CUDA_ARCH__ == 890 || __CUDA_ARCH__ >= 1200)
#define CAFFE_SM_THREAD_SLOTS 1536
#else
#define CAFFE_SM_THREAD_SLOTS 2048
#endif

#define CAFFE_FULL_OCCUPANCY_BLOCKS(threads) (CAFFE_SM_THREAD_SLOTS / (threads))

#endif  // CAFFE_UTIL_GPU_OCCUPANCY_CUH_
