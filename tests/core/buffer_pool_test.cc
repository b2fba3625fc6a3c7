#include "cairn/core/buffer_pool.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_util.h"

namespace cairn {
namespace {

constexpr size_t kMiB = 1 << 20;

TEST(BufferPool, ReleasedBufferIsReusedForTheSameSize) {
  BufferPool pool(64 * kMiB);
  auto a = pool.Acquire(10 * kMiB);
  ASSERT_OK(a.status());
  uint8_t* first = a->get();
  std::memset(first, 0xab, 10 * kMiB);  // every byte writable
  a->reset();
  EXPECT_EQ(pool.pooled_bytes(), 10 * kMiB);  // 10 MiB is already a 2 MiB multiple
  auto b = pool.Acquire(10 * kMiB - 123);
  ASSERT_OK(b.status());
  EXPECT_EQ(b->get(), first);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(pool.pooled_bytes(), 0u);
  std::memset(b->get(), 0x11, 10 * kMiB - 123);
}

TEST(BufferPool, SizesFarApartGetNewBuffers) {
  BufferPool pool(256 * kMiB);
  auto big = pool.Acquire(64 * kMiB);
  ASSERT_OK(big.status());
  big->reset();
  auto small = pool.Acquire(4 * kMiB);  // would waste 60 MiB: a new mapping
  ASSERT_OK(small.status());
  EXPECT_EQ(pool.reused(), 0u);
  auto larger = pool.Acquire(65 * kMiB);  // bigger than anything kept: a new mapping
  ASSERT_OK(larger.status());
  EXPECT_EQ(pool.reused(), 0u);
  EXPECT_EQ(pool.pooled_bytes(), 64 * kMiB);
}

TEST(BufferPool, KeepsAtMostItsCapacityOldestDroppedFirst) {
  BufferPool pool(20 * kMiB);
  auto a = pool.Acquire(8 * kMiB), b = pool.Acquire(8 * kMiB), c = pool.Acquire(8 * kMiB);
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  ASSERT_OK(c.status());
  uint8_t* pc = c->get();
  a->reset();
  b->reset();
  c->reset();  // 24 MiB > 20: a (the oldest) is unmapped
  EXPECT_EQ(pool.pooled_bytes(), 16 * kMiB);
  auto d = pool.Acquire(8 * kMiB), e = pool.Acquire(8 * kMiB);
  EXPECT_EQ(pool.reused(), 2u);
  EXPECT_TRUE(d->get() == pc || e->get() == pc);
  // Larger than the whole pool: never kept.
  auto huge = pool.Acquire(40 * kMiB);
  ASSERT_OK(huge.status());
  huge->reset();
  EXPECT_EQ(pool.pooled_bytes(), 0u);
}

TEST(BufferPool, SmallBuffersAndZeroSizeAreNotPooled) {
  BufferPool pool(64 * kMiB);
  auto z = pool.Acquire(0);
  ASSERT_OK(z.status());
  EXPECT_NE(z->get(), nullptr);
  auto s = pool.Acquire(4096);
  ASSERT_OK(s.status());
  z->reset();
  s->reset();
  EXPECT_EQ(pool.pooled_bytes(), 0u);
}

TEST(BufferPool, BuffersMayOutliveThePool) {
  std::shared_ptr<uint8_t> kept;
  {
    BufferPool pool(64 * kMiB);
    auto a = pool.Acquire(8 * kMiB);
    ASSERT_OK(a.status());
    kept = *a;
    auto b = pool.Acquire(8 * kMiB);
    b->reset();  // pooled, then unmapped with the pool
  }
  std::memset(kept.get(), 1, 8 * kMiB);
  kept.reset();  // unmapped, not pooled: the pool is gone (ASan/valgrind see a leak otherwise)
}

TEST(BufferPool, ImpossibleSizeIsAnError) {
  BufferPool pool(64 * kMiB);
  auto r = pool.Acquire(size_t{1} << 62);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace cairn
