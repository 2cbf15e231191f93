// Command partner-example is how a partner's system connects to the
// coalition with the bundle it was issued: it earns points for a purchase
// and prints the member's balance.
//
//	go run ./cmd/partner-example -bundle .dev/partners/cafe -card 7700... -amount 1500.00
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

func main() {
	addr := flag.String("addr", "localhost:7443", "the coalition's gRPC address")
	bundle := flag.String("bundle", ".dev/partners/cafe", "folder with cert.pem, key.pem and ca.pem")
	card := flag.String("card", "", "member's card number")
	amount := flag.String("amount", "", "purchase amount in major units, e.g. 1500.00 (empty: only show the balance)")
	currency := flag.String("currency", "RUB", "ISO 4217 currency")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), `partner-example is how a partner's system connects to the coalition: over
gRPC with mutual TLS, with the certificate bundle the partner was issued, it
earns a member points for a purchase (-amount) and prints the member's
balance.

Usage:
  go run ./cmd/partner-example -bundle .dev/partners/cafe -card 7700... [-amount 1500.00]

`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*addr, *bundle, *card, *amount, *currency); err != nil {
		fmt.Fprintln(os.Stderr, "partner-example:", err)
		os.Exit(1)
	}
}

func run(addr, bundle, card, amount, currency string) error {
	// The bundle: our certificate and key (they name us), and the
	// coalition's CA, which signs the server's certificate.
	cert, err := tls.LoadX509KeyPair(filepath.Join(bundle, "cert.pem"), filepath.Join(bundle, "key.pem"))
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(bundle, "ca.pem"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return fmt.Errorf("%s/ca.pem holds no certificate", bundle)
	}
	host, _, _ := strings.Cut(addr, ":")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := coalitionv1.NewPartnerServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	member := &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_CardNumber{CardNumber: card}}
	if amount != "" {
		minor, err := minorUnits(amount)
		if err != nil {
			return err
		}
		// The order id doubles as the idempotency key: sending the same
		// purchase again after a timeout can never earn twice.
		order := fmt.Sprintf("example-%d", time.Now().UnixNano())
		res, err := client.Accrue(ctx, &coalitionv1.AccrueRequest{
			IdempotencyKey: order, Member: member, OrderId: order,
			Purchase: &coalitionv1.Money{Minor: minor, Currency: currency},
		})
		if err != nil {
			return err
		}
		fmt.Printf("earned %d points (transaction %s)\n", res.Points, res.Transaction.Id)
	}
	b, err := client.GetBalance(ctx, &coalitionv1.GetBalanceRequest{Member: member})
	if err != nil {
		return err
	}
	fmt.Printf("balance: %d available, %d pending, %d held\n", b.Balance.Available, b.Balance.Pending, b.Balance.Held)
	return nil
}

// minorUnits reads "1500.00" as 150000, without floating point.
func minorUnits(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("amount %q has more than two decimals", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	return strconv.ParseInt(whole+frac, 10, 64)
}
