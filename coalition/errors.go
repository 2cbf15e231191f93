package coalition

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. The gRPC edge maps each to one status
// code; the domain itself knows nothing of gRPC.
type Code int

const (
	// Invalid: the request is wrong whatever the state (bad amount, wrong
	// currency).
	Invalid Code = iota + 1
	// NotFound: a member, partner, hold or transaction the caller may see
	// does not exist.
	NotFound
	// FailedPrecondition: the request is well formed but the state forbids
	// it (not enough points, hold already captured, refund above the
	// original).
	FailedPrecondition
	// Conflict: the request collides with an earlier one (idempotency key
	// reused for a different request, order already accrued).
	Conflict
	// PermissionDenied: the caller is known but may not do this (suspended
	// partner).
	PermissionDenied
)

// Error is a domain error: a class, the request field at fault (dotted path
// as in the API, empty when no single field is), and a message for people.
type Error struct {
	Code    Code
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func newError(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errorf builds a domain error of the given class.
func Errorf(code Code, field, format string, args ...any) *Error {
	return newError(code, field, format, args...)
}

// AsError returns the domain error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
