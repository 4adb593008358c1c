#pragma once

// Load spread over several processes (iolab run --segment): which share of the whole run one
// process takes. Shares are half-open ranges [from, to) of [0, 1) with exact rational bounds, so
// that an integer total splits without loss: a segment takes floor(total * to) -
// floor(total * from) of it, and over segments that tile [0, 1) these add up to the total for any
// total and any number of segments (the sums telescope).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iolab {

/// A number in [0, 1] as num / den, den > 0, kept in lowest terms.
struct Fraction {
  uint64_t num = 0;
  uint64_t den = 1;

  /// "1/3", "0.25", "0" or "1". Empty with `error` naming the problem otherwise.
  static std::optional<Fraction> parse(std::string_view text, std::string* error = nullptr);
  std::string to_string() const;  ///< "0", "1" or "num/den".
  double value() const { return static_cast<double>(num) / static_cast<double>(den); }
  /// floor(total * this), exactly.
  uint64_t floor_of(uint64_t total) const;

  bool operator==(const Fraction& other) const { return num == other.num && den == other.den; }
  bool operator<(const Fraction& other) const;
};

/// The share [from, to) of a load that one process runs.
struct Segment {
  Fraction from{0, 1};
  Fraction to{1, 1};

  /// Segment `index` (0-based) of `count` equal ones: [index/count, (index+1)/count).
  static Segment nth(uint64_t index, uint64_t count);
  /// "I/N" (0-based index I of N equal segments) or k6's "a:b" (fractions). Empty with `error`.
  static std::optional<Segment> parse(std::string_view text, std::string* error = nullptr);

  bool whole() const { return from.num == 0 && to.num == to.den; }
  /// How much of `total` this segment takes.
  uint64_t share_of(uint64_t total) const { return to.floor_of(total) - from.floor_of(total); }
  /// The first of the whole run's `total` items (connections) that this segment takes.
  uint64_t first_of(uint64_t total) const { return from.floor_of(total); }
  std::string to_string() const;  ///< "from:to", as parse() reads it.

  bool operator==(const Segment& other) const = default;
};

/// k6's segment sequence: "0,1/4,1/2,1", increasing from 0 to 1. Empty with `error` otherwise.
std::optional<std::vector<Fraction>> parse_segment_sequence(std::string_view text,
                                                            std::string* error = nullptr);

/// Segment `index` (0-based) of a sequence: [sequence[index], sequence[index + 1]). Empty when
/// the sequence has no such segment.
std::optional<Segment> segment_of_sequence(const std::vector<Fraction>& sequence, uint64_t index);

/// What the command line says about segments (iolab run): `segment` ("I/N" or "a:b"),
/// `segments` ("N" or "auto") and `sequence` ("0,1/4,1"); each empty when not given.
struct SegmentFlags {
  std::string segment;
  std::string segments;
  std::string sequence;
};

/// This process's segment, and where its rank came from. Without --segment, the rank comes from
/// the engine that started the process: JOB_COMPLETION_INDEX (a Kubernetes Indexed Job; the
/// count from --segments N), SLURM_PROCID and SLURM_NTASKS, or OMPI_COMM_WORLD_RANK and
/// OMPI_COMM_WORLD_SIZE; --segments auto takes the count from the engine too. With a sequence,
/// rank i takes [sequence[i], sequence[i + 1]). nullopt when no segment flag is given. Throws
/// std::invalid_argument naming the flag or variable that is wrong or missing.
struct SegmentChoice {
  Segment segment;
  std::string rank_from;  ///< "--segment", "SLURM_PROCID", ...
};
std::optional<SegmentChoice> choose_segment(const SegmentFlags& flags,
                                            const std::function<const char*(const char*)>& getenv);

}  // namespace iolab
