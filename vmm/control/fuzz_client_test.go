package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"
)

// FuzzClientReply answers one client call with the fuzzer's bytes, as a
// VMM that went wrong (or was taken over) might: any JSON, a wrong id, a
// missing payload, no newline, a huge line. The client may fail the call
// but never panic or hang; it stays usable exactly when the first line was
// a response to its request, and accepts nothing else.
func FuzzClientReply(f *testing.F) {
	f.Add([]byte(`{"id":1,"ok":true,"status":{"state":"running","vcpus":2}}`+"\n"), uint8(0))
	f.Add([]byte(`{"id":1,"ok":true,"stop":{"forced":true}}`+"\n"), uint8(1))
	f.Add([]byte(`{"id":1,"ok":true,"console":{"data":"aGk=","next":-5}}`+"\n"), uint8(5))
	f.Add([]byte(`{"id":1,"ok":true,"counters":{"disk0_reads":3}}`+"\n"), uint8(6))
	f.Add([]byte(`{"id":1,"ok":true,"input":{"accepted":3}}`+"\n"), uint8(7))
	f.Add([]byte(`{"id":1,"ok":false,"error":"no"}`+"\n"), uint8(3))
	f.Add([]byte(`{"id":2,"ok":true}`+"\n"), uint8(4))
	f.Add([]byte(`{"id":1,"ok":true,"status":null}`), uint8(0))
	f.Fuzz(func(t *testing.T, reply []byte, op uint8) {
		cc, sc := net.Pipe()
		defer cc.Close()
		go func() {
			defer sc.Close()
			sc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := bufio.NewReader(sc).ReadSlice('\n'); err != nil {
				return
			}
			sc.Write(reply)
		}()
		c := &Client{conn: cc, r: bufio.NewReaderSize(cc, 64<<10)}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		switch op % 8 {
		case 0:
			_, err = c.Status(ctx)
		case 1:
			_, err = c.Stop(ctx, time.Millisecond)
		case 2:
			err = c.Kill(ctx)
		case 3:
			err = c.Pause(ctx)
		case 4:
			err = c.Resume(ctx)
		case 5:
			_, _, err = c.Console(ctx, 0, 0)
		case 6:
			_, err = c.Counters(ctx)
		case 7:
			_, err = c.Input(ctx, []byte("ls\n"))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call hung: %v", err)
		}
		// The exchange is sound when the first line is a response to
		// request 1; only then may the client stay usable.
		sound := false
		if i := bytes.IndexByte(reply, '\n'); i >= 0 && i < maxResponse {
			var resp Response
			sound = json.Unmarshal(reply[:i+1], &resp) == nil && resp.ID == 1
		}
		if sound == c.broken.Load() {
			t.Fatalf("sound exchange %v, client broken %v (err %v)", sound, c.broken.Load(), err)
		}
		if !sound && err == nil {
			t.Fatal("unsound reply accepted")
		}
	})
}
