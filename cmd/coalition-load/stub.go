package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
)

// stubLedger answers the calls the load generator makes (enroll, accrue,
// redeem, balance) from memory, at once. Behind the server's own gRPC stack
// it leaves everything of a request but the database: what the stub serves
// per second is the ceiling of the transport, the interceptors and the load
// generator on the machine, with no ledger under them.
type stubLedger struct {
	rpc.Ledger // the other calls: nil, so they panic and the server answers Internal
	cards      atomic.Int64
	// stall, if set, is how long an accrual with this order id waits
	// before its answer (a test's database stall).
	stall func(orderID string) time.Duration
}

func (s *stubLedger) Enroll(_ context.Context, _ coalition.PartnerID, _ ledger.Enrollment) (ledger.Member, error) {
	return ledger.Member{CardNumber: fmt.Sprintf("%016d", s.cards.Add(1)), EnrolledAt: time.Now()}, nil
}

func (s *stubLedger) Accrue(_ context.Context, _ coalition.PartnerID, a ledger.Accrual) (ledger.AccrueResult, error) {
	if s.stall != nil {
		time.Sleep(s.stall(a.OrderID))
	}
	now := time.Now()
	return ledger.AccrueResult{Transaction: ledger.Transaction{Kind: ledger.KindEarn, Points: 50, OrderID: a.OrderID, CreatedAt: now},
		SpendableFrom: now, ExpiresAt: now.AddDate(1, 0, 0)}, nil
}

func (s *stubLedger) RedeemWithCoupon(_ context.Context, _ coalition.PartnerID, r ledger.Redemption) (ledger.RedeemResult, error) {
	return ledger.RedeemResult{Transaction: ledger.Transaction{Kind: ledger.KindBurn, Points: -10, OrderID: r.OrderID, CreatedAt: time.Now()}}, nil
}

func (s *stubLedger) Balance(context.Context, coalition.PartnerID, ledger.MemberRef) (ledger.Balance, error) {
	return ledger.Balance{Available: 100}, nil
}

// stubPartners knows every partner code, all as one partner.
type stubPartners struct{}

func (stubPartners) PartnerIDByCode(context.Context, string) (coalition.PartnerID, error) {
	var id coalition.PartnerID
	return id, nil
}

// ByID answers the server's check of the partner's standing: active, from
// memory, as the stub's ledger answers.
func (stubPartners) ByID(_ context.Context, id coalition.PartnerID) (partners.Partner, error) {
	return partners.Partner{ID: id, Code: "stub", Status: "active"}, nil
}

func (stubPartners) List(context.Context) ([]partners.Partner, error) { return nil, nil }

func (stubPartners) Changes() uint64 { return 0 }

// startStub serves the stub ledger l (nil: one that answers at once) on a
// loopback port with the server's gRPC stack (the recovery,
// authentication and validation interceptors, the partner service's
// adapters) over TLS with a throwaway self-signed certificate, and returns
// its address and that certificate (PEM) to trust.
func startStub(l *stubLedger) (addr string, caPEM []byte, stop func(), err error) {
	if l == nil {
		l = &stubLedger{}
	}
	cert, caPEM, err := selfSigned()
	if err != nil {
		return "", nil, nil, err
	}
	srv, _, err := rpc.NewServer(rpc.Options{Ledger: l, Partners: stubPartners{}, Auth: &rpc.DevAuthenticator{Partners: stubPartners{}},
		ServerOptions: []grpc.ServerOption{grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12,
		}))}})
	if err != nil {
		return "", nil, nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	go srv.Serve(lis)
	return lis.Addr().String(), caPEM, srv.Stop, nil
}

// selfSigned makes a certificate for localhost and 127.0.0.1, valid for a
// day, which is its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coalition-load stub"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
