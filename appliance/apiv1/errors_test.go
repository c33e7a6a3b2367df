package apiv1

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// TestCodeOf: a package's sentinel keeps its message and identity, is
// matched by its code, and decides the status through any wrapping; an
// error of no kind is an InternalError.
func TestCodeOf(t *testing.T) {
	errImage := NewError(NotFound, "image not found")
	wrapped := fmt.Errorf("get %q: %w", "x", errImage)
	if CodeOf(wrapped) != NotFound || !errors.Is(wrapped, NotFound) || !errors.Is(wrapped, errImage) {
		t.Fatalf("wrapped sentinel: code %s", CodeOf(wrapped))
	}
	if errors.Is(wrapped, NewError(NotFound, "image not found")) {
		t.Fatal("two sentinels of one code match each other")
	}
	if got := fmt.Errorf("%w by instance i-1", InUse).Error(); got != "in use by instance i-1" {
		t.Fatalf("message %q", got)
	}
	plain := errors.New("disk on fire")
	if CodeOf(plain) != InternalError || CodeOf(WithCode(InvalidParameter, plain)) != InvalidParameter {
		t.Fatal("WithCode")
	}
	if WithCode(NotFound, nil) != nil || WithCode(InUse, plain).Error() != plain.Error() {
		t.Fatal("WithCode changes nil or the message")
	}
	// The outermost kind wins.
	if CodeOf(fmt.Errorf("%w: %w", LimitExceeded, errImage)) != LimitExceeded {
		t.Fatal("outermost code")
	}
	for c, want := range map[Code]int{InvalidParameter: 400, NotFound: 404, AlreadyExists: 409, InUse: 409,
		IncorrectState: 409, InsufficientCapacity: 409, LimitExceeded: 409, Unauthorized: 401, Forbidden: 403,
		InternalError: 500, "Bogus": http.StatusInternalServerError} {
		if c.Status() != want {
			t.Errorf("%s: status %d, want %d", c, c.Status(), want)
		}
	}
}
