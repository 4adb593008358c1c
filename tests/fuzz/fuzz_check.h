#pragma once

// Shared by the fuzz targets: a broken property crashes the target, so libFuzzer reports it and
// keeps the input. (assert() would vanish in a release build.)

namespace iolab::fuzz {

inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace iolab::fuzz
