// Package rpc is the gRPC edge of the coalition: it authenticates the
// caller, validates each request against the constraints in the protos,
// calls the domain, and maps domain errors to gRPC status codes with field
// violations, in one place. It holds no business rules.
package rpc

import (
	"context"
	"errors"
	"log/slog"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
)

var codeOf = map[coalition.Code]codes.Code{
	coalition.Invalid:            codes.InvalidArgument,
	coalition.NotFound:           codes.NotFound,
	coalition.FailedPrecondition: codes.FailedPrecondition,
	coalition.Conflict:           codes.AlreadyExists,
	coalition.PermissionDenied:   codes.PermissionDenied,
}

// toStatus is the one place domain errors become gRPC statuses. A domain
// error names the field at fault, carried as a BadRequest field violation.
// A database or Vault that cannot be reached is UNAVAILABLE, serialization
// conflicts that outlast the retries ABORTED: both say the client may send
// the same request again. Anything else is logged and returned as Internal
// without its text, which may hold SQL or internal names.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if e, ok := coalition.AsError(err); ok {
		code, ok := codeOf[e.Code]
		if !ok {
			log.ErrorContext(ctx, "domain error without a status code", "method", method, "error", err)
			return status.Error(codes.Internal, "internal error")
		}
		st := status.New(code, e.Error())
		if e.Field != "" {
			if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: e.Field, Description: e.Message},
			}}); derr == nil {
				st = d
			}
		}
		return st.Err()
	}
	// The caller's own deadline or cancellation explains any error after it.
	switch ctx.Err() {
	case context.Canceled:
		return status.Error(codes.Canceled, "request cancelled")
	case context.DeadlineExceeded:
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	switch {
	// Vault first: its network errors would otherwise pass for the
	// database's.
	case vault.Unavailable(err):
		log.WarnContext(ctx, "vault unavailable", "method", method, "error", err)
		return withReason(codes.Unavailable, "the phone-number hash (Vault) is unavailable: retry with the same idempotency key", ReasonVaultUnavailable)
	case txn.Unavailable(err):
		log.WarnContext(ctx, "database unavailable", "method", method, "error", err)
		return withReason(codes.Unavailable, "the database is unavailable: retry with the same idempotency key", ReasonDatabaseUnavailable)
	case txn.IsRetryable(err):
		log.WarnContext(ctx, "serialization conflicts outlasted the retries", "method", method, "error", err)
		return withReason(codes.Aborted, "the request kept conflicting with concurrent ones: retry with the same idempotency key", ReasonConflict)
	case txn.Unstorable(err):
		return status.Error(codes.InvalidArgument, "invalid request: a text field holds a character that cannot be stored")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	log.ErrorContext(ctx, "request failed", "method", method, "error", err)
	return status.Error(codes.Internal, "internal error")
}

// Reasons in the google.rpc.ErrorInfo of an UNAVAILABLE or ABORTED answer
// (domain ErrorDomain): what failed. A client retries either with the same
// request; the replica's readiness follows the database's.
const (
	ErrorDomain               = "coalition"
	ReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE"
	ReasonVaultUnavailable    = "VAULT_UNAVAILABLE"
	ReasonConflict            = "CONFLICT_RETRIES_EXHAUSTED"
)

// cannotCheck is the answer when credentials could not be checked because
// a dependency failed: UNAVAILABLE, with the reason when it is known.
func cannotCheck(msg string, err error) error {
	if vault.Unavailable(err) {
		return withReason(codes.Unavailable, msg+": Vault is unavailable", ReasonVaultUnavailable)
	}
	if txn.Unavailable(err) {
		return withReason(codes.Unavailable, msg+": the database is unavailable", ReasonDatabaseUnavailable)
	}
	return status.Error(codes.Unavailable, msg)
}

func withReason(code codes.Code, msg, reason string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// validationStatus turns protovalidate's violations into InvalidArgument
// with one field violation per broken rule.
func validationStatus(err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return status.Error(codes.Internal, "request validation failed")
	}
	br := &errdetails.BadRequest{}
	msg := "invalid request:"
	for _, v := range verr.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: field, Description: v.Proto.GetMessage(), Reason: v.Proto.GetRuleId(),
		})
		msg += " " + field + ": " + v.Proto.GetMessage() + ";"
	}
	st, derr := status.New(codes.InvalidArgument, msg[:len(msg)-1]).WithDetails(br)
	if derr != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// reasonOf is the ErrorInfo reason of a status error, or "".
func reasonOf(err error) string {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}
