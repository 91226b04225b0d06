// CPU timers report fractions of a millisecond
// (patches/0044-cpu-timers-fractional-milliseconds.patch): `caffe time`
// printed "Total Time: 0 ms" for a net faster than a millisecond, since the
// milliseconds were boost's whole ones.
#include <unistd.h>  // usleep

#include "gtest/gtest.h"

#include "caffe/common.hpp"
#include "caffe/util/benchmark.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

namespace {

// A sleep of 1.5 ms: the milliseconds agree with the microseconds to the
// microsecond, whole or not.
template <typename TimerType>
void ExpectFractionalMilliseconds() {
  TimerType timer;
  timer.Start();
  usleep(1500);
  timer.Stop();
  const float microseconds = timer.MicroSeconds();
  EXPECT_GE(microseconds, 1500);
  EXPECT_NEAR(microseconds / 1000, timer.MilliSeconds(), 1e-3);
  EXPECT_NEAR(microseconds / 1e6, timer.Seconds(), 1e-6);
}

}  // namespace

TEST(TimerResolutionTest, CpuModeTimerMillisecondsHaveFractions) {
  Caffe::set_mode(Caffe::CPU);
  ExpectFractionalMilliseconds<Timer>();
}

TEST(TimerResolutionTest, CpuTimerMillisecondsHaveFractions) {
  ExpectFractionalMilliseconds<CPUTimer>();
}

}  // namespace caffe
