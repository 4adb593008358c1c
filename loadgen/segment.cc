#include "loadgen/segment.h"

#include "loadgen/load_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace iolab {
namespace {

using u128 = unsigned __int128;

// Larger denominators gain nothing over a double and risk overflow in comparisons.
constexpr uint64_t kMaxDenominator = 1'000'000'000'000ULL;

// The text between single quotes, for messages.
std::string quote(std::string_view text) {
  std::string quoted;
  quoted.reserve(text.size() + 2);
  quoted.push_back('\'');
  quoted.append(text);
  quoted.push_back('\'');
  return quoted;
}

bool set_error(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

Fraction reduced(uint64_t num, uint64_t den) {
  const uint64_t g = std::gcd(num, den);
  return {num / g, den / g};
}

// "0.25" as 25/100; digits only after the point, at most 12 of them.
std::optional<Fraction> parse_decimal(std::string_view text) {
  const size_t dot = text.find('.');
  const auto whole = parse_u64(text.substr(0, dot));
  if (!whole || *whole > 1) return std::nullopt;
  const std::string_view digits = text.substr(dot + 1);
  if (digits.empty() || digits.size() > 12) return std::nullopt;
  const auto part = parse_u64(digits);
  if (!part) return std::nullopt;
  uint64_t den = 1;
  for (size_t i = 0; i < digits.size(); ++i) den *= 10;
  return reduced(*whole * den + *part, den);
}

}  // namespace

std::optional<Fraction> Fraction::parse(std::string_view text, std::string* error) {
  const std::string quoted = quote(text);
  std::optional<Fraction> f;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    const auto num = parse_u64(text.substr(0, slash));
    const auto den = parse_u64(text.substr(slash + 1));
    if (num && den && *den != 0 && *den <= kMaxDenominator) f = reduced(*num, *den);
  } else if (text.find('.') != std::string_view::npos) {
    f = parse_decimal(text);
  } else if (const auto n = parse_u64(text); n && *n <= 1) {
    f = Fraction{*n, 1};
  }
  if (!f) {
    set_error(error, quoted + " is not a fraction (as 1/3, 0.25, 0 or 1)");
    return std::nullopt;
  }
  if (f->num > f->den) {
    set_error(error, quoted + " is above 1");
    return std::nullopt;
  }
  return f;
}

std::string Fraction::to_string() const {
  if (num == 0) return "0";
  if (num == den) return "1";
  return std::to_string(num) + "/" + std::to_string(den);
}

uint64_t Fraction::floor_of(uint64_t total) const {
  return static_cast<uint64_t>(static_cast<u128>(total) * num / den);
}

bool Fraction::operator<(const Fraction& other) const {
  return static_cast<u128>(num) * other.den < static_cast<u128>(other.num) * den;
}

Segment Segment::nth(uint64_t index, uint64_t count) {
  return {reduced(index, count), reduced(index + 1, count)};
}

std::optional<Segment> Segment::parse(std::string_view text, std::string* error) {
  const std::string quoted = quote(text);
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    std::string why;
    const auto from = Fraction::parse(text.substr(0, colon), &why);
    const auto to = from ? Fraction::parse(text.substr(colon + 1), &why) : std::nullopt;
    if (!to) {
      set_error(error, "segment " + quoted + ": " + why);
      return std::nullopt;
    }
    if (!(*from < *to)) {
      set_error(error, "segment " + quoted + ": its start must be below its end");
      return std::nullopt;
    }
    return Segment{*from, *to};
  }
  const size_t slash = text.find('/');
  const auto index = parse_u64(text.substr(0, slash));
  const auto count =
      slash == std::string_view::npos ? std::nullopt : parse_u64(text.substr(slash + 1));
  if (!index || !count || *count == 0 || *count > 1'000'000) {
    set_error(error, "segment " + quoted +
                         " is neither I/N (0-based index I of N segments, N up to 1000000) nor "
                         "a:b (fractions)");
    return std::nullopt;
  }
  if (*index >= *count) {
    set_error(error, "segment " + quoted + ": the index is 0-based, so it must be below " +
                         std::to_string(*count));
    return std::nullopt;
  }
  return nth(*index, *count);
}

std::string Segment::to_string() const { return from.to_string() + ":" + to.to_string(); }

std::optional<std::vector<Fraction>> parse_segment_sequence(std::string_view text,
                                                            std::string* error) {
  std::vector<Fraction> sequence;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string_view item = text.substr(start, comma - start);
    std::string why;
    const auto f = Fraction::parse(item, &why);
    if (!f) {
      set_error(error, "segment sequence: " + why);
      return std::nullopt;
    }
    if (!sequence.empty() && !(sequence.back() < *f)) {
      set_error(error, "segment sequence: it must increase, and " + f->to_string() + " follows " +
                           sequence.back().to_string());
      return std::nullopt;
    }
    sequence.push_back(*f);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (sequence.size() < 2 || sequence.front().num != 0 ||
      sequence.back().num != sequence.back().den) {
    set_error(error, "segment sequence: it must go from 0 to 1, as 0,1/4,1");
    return std::nullopt;
  }
  return sequence;
}

std::optional<Segment> segment_of_sequence(const std::vector<Fraction>& sequence, uint64_t index) {
  if (index + 1 >= sequence.size()) return std::nullopt;
  return Segment{sequence[index], sequence[index + 1]};
}

namespace {

std::optional<uint64_t> env_number(const std::function<const char*(const char*)>& getenv,
                                   const char* name) {
  const char* value = getenv(name);
  if (value == nullptr) return std::nullopt;
  const auto n = parse_u64(value);
  if (!n) {
    throw std::invalid_argument(std::string(name) + "='" + value + "' is not a whole number");
  }
  return n;
}

// The engine's rank and size (size 0 when it does not say), or nullopt when none started us.
struct EngineRank {
  uint64_t rank = 0;
  uint64_t size = 0;
  std::string from;
};

std::optional<EngineRank> engine_rank(const std::function<const char*(const char*)>& getenv) {
  if (const auto index = env_number(getenv, "JOB_COMPLETION_INDEX")) {
    return EngineRank{*index, 0, "JOB_COMPLETION_INDEX"};
  }
  if (const auto rank = env_number(getenv, "SLURM_PROCID")) {
    return EngineRank{*rank, env_number(getenv, "SLURM_NTASKS").value_or(0), "SLURM_PROCID"};
  }
  if (const auto rank = env_number(getenv, "OMPI_COMM_WORLD_RANK")) {
    return EngineRank{*rank, env_number(getenv, "OMPI_COMM_WORLD_SIZE").value_or(0),
                      "OMPI_COMM_WORLD_RANK"};
  }
  return std::nullopt;
}

std::optional<std::vector<Fraction>> sequence_of(const SegmentFlags& flags) {
  if (flags.sequence.empty()) return std::nullopt;
  std::string error;
  auto sequence = parse_segment_sequence(flags.sequence, &error);
  if (!sequence) throw std::invalid_argument("--segment-sequence: " + error);
  return sequence;
}

// --segment given: it must be one of the sequence's segments, if there is a sequence.
SegmentChoice explicit_segment(const SegmentFlags& flags,
                               const std::optional<std::vector<Fraction>>& sequence) {
  std::string error;
  const auto segment = Segment::parse(flags.segment, &error);
  if (!segment) throw std::invalid_argument("--segment: " + error);
  if (sequence) {
    bool found = false;
    for (uint64_t i = 0; i + 1 < sequence->size(); ++i) {
      found = found || *segment_of_sequence(*sequence, i) == *segment;
    }
    if (!found) {
      throw std::invalid_argument("--segment " + segment->to_string() +
                                  " is not one of --segment-sequence's segments");
    }
  }
  return {*segment, "--segment"};
}

}  // namespace

std::optional<SegmentChoice> choose_segment(const SegmentFlags& flags,
                                            const std::function<const char*(const char*)>& getenv) {
  const auto sequence = sequence_of(flags);
  if (!flags.segment.empty()) {
    if (!flags.segments.empty()) {
      throw std::invalid_argument("give --segment or --segments, not both");
    }
    return explicit_segment(flags, sequence);
  }
  if (flags.segments.empty() && !sequence) return std::nullopt;
  const auto rank = engine_rank(getenv);
  if (!rank) {
    throw std::invalid_argument(
        "no segment index: give --segment I/N, or start iolab from an engine that sets "
        "JOB_COMPLETION_INDEX, SLURM_PROCID or OMPI_COMM_WORLD_RANK");
  }
  uint64_t count = rank->size;
  if (!flags.segments.empty() && flags.segments != "auto") {
    const auto n = parse_u64(flags.segments);
    if (!n || *n == 0 || *n > 1'000'000) {
      throw std::invalid_argument("--segments must be a count from 1 to 1000000 or 'auto', got '" +
                                  flags.segments + "'");
    }
    if (rank->size != 0 && rank->size != *n) {
      throw std::invalid_argument("--segments " + flags.segments + " but the engine started " +
                                  std::to_string(rank->size) + " tasks");
    }
    count = *n;
  }
  if (sequence) {
    const uint64_t segments = sequence->size() - 1;
    if (count != 0 && count != segments) {
      throw std::invalid_argument("--segment-sequence has " + std::to_string(segments) +
                                  " segments but there are " + std::to_string(count) + " tasks");
    }
    const auto segment = segment_of_sequence(*sequence, rank->rank);
    if (!segment) {
      throw std::invalid_argument(rank->from + "=" + std::to_string(rank->rank) +
                                  " is past --segment-sequence's " + std::to_string(segments) +
                                  " segments");
    }
    return SegmentChoice{*segment, rank->from};
  }
  if (count == 0) {
    throw std::invalid_argument(rank->from + " gives no task count: give --segments N");
  }
  if (rank->rank >= count) {
    throw std::invalid_argument(rank->from + "=" + std::to_string(rank->rank) +
                                " is not below the " + std::to_string(count) + " segments");
  }
  return SegmentChoice{Segment::nth(rank->rank, count), rank->from};
}

LoadSpec segment_spec(const LoadSpec& whole, const Segment& segment) {
  if (whole.connections < 1) {
    throw RunError("connections must be at least 1, got " + std::to_string(whole.connections));
  }
  const auto connections = static_cast<uint64_t>(whole.connections);
  const uint64_t share = segment.share_of(connections);
  if (share == 0) {
    throw RunError("segment " + segment.to_string() + " of " + std::to_string(connections) +
                   " connections gets none of them: use fewer segments or more connections");
  }
  LoadSpec spec = whole;
  spec.segment = SegmentSpec{segment, whole.connections, whole.rate, whole.max_requests};
  spec.connections = static_cast<int>(share);
  spec.threads = std::min(whole.threads, spec.connections);
  // Each connection keeps every whole.connections-th slot of the whole schedule.
  spec.rate = whole.rate * static_cast<double>(share) / static_cast<double>(connections);
  spec.max_requests = segment.share_of(whole.max_requests);
  if (whole.max_requests != 0 && spec.max_requests == 0) {
    throw RunError("segment " + segment.to_string() + " of " + std::to_string(whole.max_requests) +
                   " requests gets none of them: use fewer segments or more requests");
  }
  return spec;
}

}  // namespace iolab
