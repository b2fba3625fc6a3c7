#include <zlib.h>

#include <cstring>

#include "cairn/core/parallel.h"
#include "zip.h"

namespace cairn::zip {
namespace {

constexpr uint64_t kAlign = 64;
constexpr uint64_t kChunk = 8u << 20;  // bytes per CRC/copy task
constexpr uint32_t kMax32 = 0xFFFFFFFFu;

struct Layout {
  uint64_t header_offset;
  uint64_t data_offset;
  uint64_t size;
  bool zip64;
  std::string local_extra;  // without the padding field
  uint16_t pad;
};

class Buf {
 public:
  void U16(uint16_t v) { s_.append(reinterpret_cast<const char*>(&v), 2); }
  void U32(uint32_t v) { s_.append(reinterpret_cast<const char*>(&v), 4); }
  void U64(uint64_t v) { s_.append(reinterpret_cast<const char*>(&v), 8); }
  void Raw(std::string_view v) { s_ += v; }
  std::string& str() { return s_; }

 private:
  std::string s_;
};

struct Task {
  size_t record;
  size_t part;
  uint64_t part_offset;  // within the part
  uint64_t len;
  uint64_t file_offset;
};

}  // namespace

Status Write(AtomicFileWriter& out, const std::vector<Record>& records) {
  // 1. Place every record: local header, padding so the payload is 64-byte aligned, payload.
  std::vector<Layout> layout;
  uint64_t pos = out.position();
  for (const Record& r : records) {
    Layout l{};
    l.size = r.size();
    l.zip64 = l.size >= kMax32;
    l.header_offset = pos;
    Buf extra;
    if (l.zip64) {
      extra.U16(0x0001);
      extra.U16(16);
      extra.U64(l.size);
      extra.U64(l.size);
    }
    l.local_extra = extra.str();
    uint64_t start = pos + 30 + r.name.size() + l.local_extra.size() + 4;
    l.pad = static_cast<uint16_t>((kAlign - start % kAlign) % kAlign);
    l.data_offset = start + l.pad;
    pos = l.data_offset + l.size;
    layout.push_back(std::move(l));
  }

  // 2. Copy payloads and compute CRC-32s in parallel, in chunks.
  std::vector<Task> tasks;
  for (size_t i = 0; i < records.size(); ++i) {
    uint64_t file_off = layout[i].data_offset;
    for (size_t p = 0; p < records[i].parts.size(); ++p) {
      uint64_t n = records[i].parts[p].second;
      for (uint64_t o = 0; o < n || (n == 0 && o == 0); o += kChunk) {
        uint64_t len = std::min(kChunk, n - o);
        tasks.push_back(Task{i, p, o, len, file_off + o});
        if (n == 0) break;
      }
      file_off += n;
    }
  }
  std::vector<uint32_t> crcs(tasks.size());
  CAIRN_RETURN_IF_ERROR(ParallelFor(tasks.size(), [&](size_t t) {
    const Task& k = tasks[t];
    const uint8_t* src = records[k.record].parts[k.part].first + k.part_offset;
    crcs[t] = static_cast<uint32_t>(crc32_z(0, src, k.len));
    return out.WriteAt(k.file_offset, src, k.len);
  }));
  std::vector<uint32_t> record_crc(records.size(), 0);
  for (size_t t = 0; t < tasks.size(); ++t) {
    uint32_t& c = record_crc[tasks[t].record];
    c = static_cast<uint32_t>(crc32_combine(c, crcs[t], static_cast<z_off_t>(tasks[t].len)));
  }

  // 3. Local headers.
  for (size_t i = 0; i < records.size(); ++i) {
    const Layout& l = layout[i];
    Buf h;
    h.U32(0x04034b50);
    h.U16(l.zip64 ? 45 : 20);  // version needed
    h.U16(0);                  // flags
    h.U16(0);                  // stored
    h.U16(0);                  // time
    h.U16(0x21);               // date: 1980-01-01
    h.U32(record_crc[i]);
    h.U32(l.zip64 ? kMax32 : static_cast<uint32_t>(l.size));
    h.U32(l.zip64 ? kMax32 : static_cast<uint32_t>(l.size));
    h.U16(static_cast<uint16_t>(records[i].name.size()));
    h.U16(static_cast<uint16_t>(l.local_extra.size() + 4 + l.pad));
    h.Raw(records[i].name);
    h.Raw(l.local_extra);
    h.U16(0x4246);  // "FB": PyTorch's alignment padding field
    h.U16(l.pad);
    h.str().append(l.pad, 'Z');
    CAIRN_RETURN_IF_ERROR(out.WriteAt(l.header_offset, h.str().data(), h.str().size()));
  }

  // 4. Central directory and end records.
  Buf cd;
  bool need64 = records.size() >= 0xFFFF;
  for (size_t i = 0; i < records.size(); ++i) {
    const Layout& l = layout[i];
    bool off64 = l.header_offset >= kMax32;
    Buf extra;
    if (l.zip64 || off64) {
      extra.U16(0x0001);
      extra.U16(static_cast<uint16_t>((l.zip64 ? 16 : 0) + (off64 ? 8 : 0)));
      if (l.zip64) {
        extra.U64(l.size);
        extra.U64(l.size);
      }
      if (off64) extra.U64(l.header_offset);
      need64 = true;
    }
    cd.U32(0x02014b50);
    cd.U16(extra.str().empty() ? 20 : 45);  // made by
    cd.U16(extra.str().empty() ? 20 : 45);  // needed
    cd.U16(0);
    cd.U16(0);
    cd.U16(0);
    cd.U16(0x21);
    cd.U32(record_crc[i]);
    cd.U32(l.zip64 ? kMax32 : static_cast<uint32_t>(l.size));
    cd.U32(l.zip64 ? kMax32 : static_cast<uint32_t>(l.size));
    cd.U16(static_cast<uint16_t>(records[i].name.size()));
    cd.U16(static_cast<uint16_t>(extra.str().size()));
    cd.U16(0);  // comment
    cd.U16(0);  // disk
    cd.U16(0);  // internal attributes
    cd.U32(0);  // external attributes
    cd.U32(off64 ? kMax32 : static_cast<uint32_t>(l.header_offset));
    cd.Raw(records[i].name);
    cd.Raw(extra.str());
  }
  const uint64_t cd_offset = pos, cd_size = cd.str().size();
  need64 = need64 || cd_offset >= kMax32 || cd_size >= kMax32;
  Buf end;
  if (need64) {
    const uint64_t e64 = cd_offset + cd_size;
    end.U32(0x06064b50);
    end.U64(44);
    end.U16(45);
    end.U16(45);
    end.U32(0);
    end.U32(0);
    end.U64(records.size());
    end.U64(records.size());
    end.U64(cd_size);
    end.U64(cd_offset);
    end.U32(0x07064b50);
    end.U32(0);
    end.U64(e64);
    end.U32(1);
  }
  end.U32(0x06054b50);
  end.U16(0);
  end.U16(0);
  end.U16(need64 ? 0xFFFF : static_cast<uint16_t>(records.size()));
  end.U16(need64 ? 0xFFFF : static_cast<uint16_t>(records.size()));
  end.U32(need64 ? kMax32 : static_cast<uint32_t>(cd_size));
  end.U32(need64 ? kMax32 : static_cast<uint32_t>(cd_offset));
  end.U16(0);
  CAIRN_RETURN_IF_ERROR(out.WriteAt(cd_offset, cd.str().data(), cd_size));
  CAIRN_RETURN_IF_ERROR(out.WriteAt(cd_offset + cd_size, end.str().data(), end.str().size()));
  out.Seek(cd_offset + cd_size + end.str().size());
  return Status::OK();
}

}  // namespace cairn::zip
