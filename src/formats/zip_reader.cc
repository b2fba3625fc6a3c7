#include <cstring>

#include "zip.h"

namespace cairn::zip {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;

// Bounds-checked little-endian reads from the mapped file.
class Cursor {
 public:
  Cursor(const MappedFile& f) : data_(f.data()), size_(f.size()) {}
  bool Has(uint64_t off, uint64_t n) const { return off <= size_ && n <= size_ - off; }
  uint16_t U16(uint64_t off) const { return static_cast<uint16_t>(U(off, 2)); }
  uint32_t U32(uint64_t off) const { return static_cast<uint32_t>(U(off, 4)); }
  uint64_t U64(uint64_t off) const { return U(off, 8); }
  const uint8_t* At(uint64_t off) const { return data_ + off; }
  uint64_t size() const { return size_; }

 private:
  uint64_t U(uint64_t off, int n) const {  // caller has checked Has(off, n)
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | data_[off + i];
    return v;
  }
  const uint8_t* data_;
  uint64_t size_;
};

Status Bad(const std::string& what) { return Status::Corrupt("zip archive: " + what); }

}  // namespace

Result<std::vector<Entry>> ReadDirectory(const MappedFile& file) {
  Cursor c(file);
  if (c.size() < 22) return Bad("too short to be a zip file");
  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  uint64_t eocd = UINT64_MAX;
  uint64_t lowest = c.size() > 22 + 65535 ? c.size() - 22 - 65535 : 0;
  for (uint64_t off = c.size() - 22;; --off) {
    if (c.U32(off) == kEndSig && off + 22 + c.U16(off + 20) <= c.size()) {
      eocd = off;
      break;
    }
    if (off == lowest) break;
  }
  if (eocd == UINT64_MAX) return Bad("no end of central directory (truncated file?)");
  if (c.U16(eocd + 4) != 0 || c.U16(eocd + 6) != 0) return Bad("multi-disk archives");
  uint64_t count = c.U16(eocd + 10);
  uint64_t cd_size = c.U32(eocd + 12);
  uint64_t cd_offset = c.U32(eocd + 16);
  if (eocd >= 20 && c.U32(eocd - 20) == kEnd64LocatorSig) {
    uint64_t e64 = c.U64(eocd - 20 + 8);
    if (!c.Has(e64, 56) || c.U32(e64) != kEnd64Sig) return Bad("bad ZIP64 end record");
    count = c.U64(e64 + 32);
    cd_size = c.U64(e64 + 40);
    cd_offset = c.U64(e64 + 48);
  }
  if (!c.Has(cd_offset, cd_size)) return Bad("central directory lies outside the file");
  if (count > cd_size / 46) return Bad("more entries than the central directory can hold");

  std::vector<Entry> entries;
  entries.reserve(count);
  uint64_t off = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (off + 46 > cd_end || c.U32(off) != kCentralSig) return Bad("bad central directory entry");
    uint16_t flags = c.U16(off + 8), method = c.U16(off + 10);
    uint32_t crc = c.U32(off + 16);
    uint64_t csize = c.U32(off + 20), usize = c.U32(off + 24);
    uint16_t name_len = c.U16(off + 28), extra_len = c.U16(off + 30), comment_len = c.U16(off + 32);
    uint64_t local = c.U32(off + 42);
    uint64_t next = off + 46 + name_len + extra_len + comment_len;
    if (next > cd_end) return Bad("central directory entry runs past the directory");
    std::string name(reinterpret_cast<const char*>(c.At(off + 46)), name_len);
    // ZIP64 extended information replaces the fields that are saturated.
    for (uint64_t x = off + 46 + name_len; x + 4 <= off + 46 + name_len + extra_len;) {
      uint16_t id = c.U16(x), len = c.U16(x + 2);
      if (x + 4 + len > off + 46 + name_len + extra_len) return Bad("bad extra field in " + name);
      if (id == 0x0001) {
        uint64_t y = x + 4, yend = x + 4 + len;
        auto take = [&](uint64_t& field) {
          if (field != 0xFFFFFFFFu) return true;
          if (y + 8 > yend) return false;
          field = c.U64(y);
          y += 8;
          return true;
        };
        if (!take(usize) || !take(csize) || !take(local))
          return Bad("short ZIP64 field in " + name);
      }
      x += 4 + len;
    }
    if (flags & 1) return Bad("record " + name + " is encrypted");
    if (method == 0 && csize != usize) return Bad("stored record " + name + " has two sizes");
    if (!c.Has(local, 30) || c.U32(local) != kLocalSig) return Bad("bad local header for " + name);
    uint64_t data = local + 30 + c.U16(local + 26) + c.U16(local + 28);
    if (!c.Has(data, csize)) return Bad("record " + name + " runs past the end of the file");
    entries.push_back(Entry{std::move(name), data, csize, crc, method != 0});
    off = next;
  }
  return entries;
}

}  // namespace cairn::zip
