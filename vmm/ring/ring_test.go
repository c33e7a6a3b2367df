package ring

import (
	"bytes"
	"sync"
	"testing"
)

func TestReadWithinCapacity(t *testing.T) {
	b := New(8)
	b.Write([]byte("hello"))
	data, next := b.Read(0, 100)
	if string(data) != "hello" || next != 5 {
		t.Fatalf("Read(0) = %q, %d; want hello, 5", data, next)
	}
	data, next = b.Read(2, 2)
	if string(data) != "ll" || next != 4 {
		t.Fatalf("Read(2,2) = %q, %d; want ll, 4", data, next)
	}
	data, next = b.Read(5, 10)
	if len(data) != 0 || next != 5 {
		t.Fatalf("Read(end) = %q, %d; want empty, 5", data, next)
	}
}

func TestWrapAndGapDetection(t *testing.T) {
	b := New(4)
	b.Write([]byte("abc"))
	b.Write([]byte("def")) // stream "abcdef", ring holds "cdef"
	data, next := b.Read(0, 10)
	if string(data) != "cdef" || next != 6 {
		t.Fatalf("Read(0) = %q, %d; want cdef, 6", data, next)
	}
	if start := next - int64(len(data)); start != 2 {
		t.Fatalf("gap not visible: start %d, want 2", start)
	}
	data, next = b.Read(3, 2)
	if string(data) != "de" || next != 5 {
		t.Fatalf("Read(3,2) = %q, %d; want de, 5", data, next)
	}
}

func TestWriteLargerThanCapacity(t *testing.T) {
	b := New(3)
	n, err := b.Write([]byte("0123456789"))
	if n != 10 || err != nil {
		t.Fatalf("Write = %d, %v; want 10, nil", n, err)
	}
	data, next := b.Read(0, 10)
	if string(data) != "789" || next != 10 || b.End() != 10 {
		t.Fatalf("Read = %q, %d, end %d; want 789, 10, 10", data, next, b.End())
	}
}

func TestHostileOffsets(t *testing.T) {
	b := New(4)
	b.Write([]byte("xy"))
	cases := []struct {
		off      int64
		max      int
		wantData string
		wantNext int64
	}{
		{-1 << 62, 10, "xy", 2},
		{1 << 62, 10, "", 2},
		{0, 0, "", 0},
		{0, -5, "", 0},
	}
	for _, c := range cases {
		data, next := b.Read(c.off, c.max)
		if string(data) != c.wantData || next != c.wantNext {
			t.Errorf("Read(%d,%d) = %q, %d; want %q, %d", c.off, c.max, data, next, c.wantData, c.wantNext)
		}
	}
	if New(0).Cap() != 1 {
		t.Error("New(0) should clamp capacity to 1")
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	b := New(64)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				b.Write([]byte("0123456789"))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var off int64
		for i := 0; i < 2000; i++ {
			data, next := b.Read(off, 16)
			if next < off || next-int64(len(data)) < off {
				t.Errorf("offset went backwards: %d -> %d", off, next)
				return
			}
			off = next
		}
	}()
	wg.Wait()
	if b.End() != 40000 {
		t.Fatalf("End = %d, want 40000", b.End())
	}
}

// FuzzRing checks the ring against a model that keeps the whole stream: the
// fuzzer's bytes choose writes and reads.
func FuzzRing(f *testing.F) {
	f.Add(uint8(5), []byte("\x03abc\x81\x00\x02\x09defghijkl\x80\x05\x7f"))
	f.Fuzz(func(t *testing.T, size uint8, ops []byte) {
		b := New(int(size))
		var model []byte
		for len(ops) > 1 {
			op, n := ops[0], int(ops[1])
			ops = ops[2:]
			if op&0x80 == 0 {
				if n > len(ops) {
					n = len(ops)
				}
				b.Write(ops[:n])
				model = append(model, ops[:n]...)
				ops = ops[n:]
				continue
			}
			off := int64(op & 0x7f)
			data, next := b.Read(off, n)
			start := next - int64(len(data))
			if start < off && len(data) > 0 {
				t.Fatalf("read started before requested offset: %d < %d", start, off)
			}
			if next > int64(len(model)) || start < 0 {
				t.Fatalf("Read(%d,%d) returned range [%d,%d) outside stream of %d", off, n, start, next, len(model))
			}
			if !bytes.Equal(data, model[start:next]) {
				t.Fatalf("Read(%d,%d) = %q, model has %q", off, n, data, model[start:next])
			}
			if len(data) > n {
				t.Fatalf("Read returned %d bytes, more than max %d", len(data), n)
			}
		}
	})
}
