package ec2

import "sync"

// The answers' bytes are built in buffers kept between requests: a
// DescribeInstances of 100 instances is about 150 KB of XML, and a new
// buffer each time (allocated, zeroed, then collected) was a fifth of
// the endpoint's own cost. http.ResponseWriter.Write copies or sends
// the bytes before it returns (io.Writer must not retain them), so a
// buffer is free again once the answer is written.

// maxPooledAnswer bounds the buffers kept: a rare larger answer gets a
// buffer of its own, which the collector takes back.
const maxPooledAnswer = 1 << 20

var answerBufs = sync.Pool{New: func() any { return new([]byte) }}

// getAnswerBuf returns an empty buffer (putAnswerBuf empties it), from
// the pool when it has one.
func getAnswerBuf() *[]byte { return answerBufs.Get().(*[]byte) }

// putAnswerBuf returns b (which must no longer be used) to the pool,
// unless it grew beyond maxPooledAnswer.
func putAnswerBuf(bp *[]byte, b []byte) {
	if cap(b) > maxPooledAnswer {
		return
	}
	*bp = b[:0]
	answerBufs.Put(bp)
}
