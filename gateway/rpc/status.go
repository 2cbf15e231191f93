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
// Anything else is logged and returned as Internal without its text, which
// may hold SQL or internal names.
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
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	log.ErrorContext(ctx, "request failed", "method", method, "error", err)
	return status.Error(codes.Internal, "internal error")
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
