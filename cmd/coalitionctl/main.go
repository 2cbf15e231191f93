// Command coalitionctl is the operator's and finance team's tool: partners,
// members, balances and the ledger check, straight against the database.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/cmd/internal/envflag"
	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := root().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "coalitionctl:", err)
		var breach errBreaches
		if errors.As(err, &breach) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errBreaches is the ledger check's failure: exit status 2, distinct from
// an error running the check.
type errBreaches int

func (e errBreaches) Error() string { return fmt.Sprintf("ledger check found %d breaches", int(e)) }

type env struct {
	databaseURL  string
	phoneHashKey string
	vaultAddr    string
	vaultToken   string
	runner       *txn.Runner
}

func (e *env) open(ctx context.Context) error {
	if e.databaseURL == "" {
		return errors.New("--database-url is required (coalitiond dev prints it)")
	}
	var err error
	e.runner, err = txn.Open(ctx, e.databaseURL)
	return err
}

func (e *env) ledger() (*ledger.Ledger, error) {
	var hasher phone.Hasher = noPhones{}
	if v, err := e.vault(); err == nil {
		hasher = vault.PhoneHasher{C: v}
	} else if e.phoneHashKey != "" {
		key, err := decodeHex(e.phoneHashKey)
		if err != nil {
			return nil, err
		}
		if hasher, err = phone.NewHMAC(key); err != nil {
			return nil, err
		}
	}
	return ledger.New(ledger.Config{Tx: e.runner, Phones: hasher, Rules: rules.NewStore(rules.StoreConfig{Tx: e.runner})}), nil
}

// noPhones refuses phone look-ups when no hash key was given.
type noPhones struct{}

func (noPhones) HashPhone(context.Context, string) ([]byte, error) {
	return nil, errors.New("looking members up by phone needs Vault (--vault-addr, --vault-token) or --phone-hash-key")
}

func root() *cobra.Command {
	e := &env{}
	cmd := &cobra.Command{
		Use:   "coalitionctl",
		Short: "Operate the coalition: partners, members, balances, the ledger check, settlement, finance, Vault, API keys, rules and staff",
		Long: `coalitionctl is the operator's and finance team's tool, straight against the
database (and Vault, for certificates, phone look-ups and keys):

  partners     list, add, suspend and activate partners; their certificates
  members      look a member up;  balance: a member's balance
  ledger       check every ledger invariant
  settlement   windows, reports, CSV exports and drill-downs, for finance
  finance      banking details, payment files, statements, adjustments,
               the month-end liability
  vault        set Vault up for the coalition
  apikeys      API keys for REST clients
  rules        the earn rules: show, check, set
  staff        staff credentials for the web pages
  offers       personal offers and their coupons
  analytics    the network's or a partner's figures over a period
  segments     member segments: list with sizes, define, delete (retire)

Every flag is also an environment variable: --database-url is
$COALITION_DATABASE_URL (coalitiond dev writes them to .dev/env).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.PersistentFlags().StringVar(&e.databaseURL, "database-url", "", "PostgreSQL or CockroachDB connection URL")
	cmd.PersistentFlags().StringVar(&e.phoneHashKey, "phone-hash-key", "", "hex key of the phone hash, to find members by phone (without Vault)")
	cmd.PersistentFlags().StringVar(&e.vaultAddr, "vault-addr", "", "Vault address (default $VAULT_ADDR)")
	cmd.PersistentFlags().StringVar(&e.vaultToken, "vault-token", "", "Vault token (default $VAULT_TOKEN)")
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return e.open(c.Context()) }
	cmd.PersistentPostRun = func(*cobra.Command, []string) {
		if e.runner != nil {
			e.runner.Pool().Close()
		}
	}
	cmd.AddCommand(partnersCmd(e), membersCmd(e), balanceCmd(e), ledgerCmd(e), settlementCmd(e), financeCmd(e), vaultCmd(e), apiKeysCmd(e), rulesCmd(e), staffCmd(e), offersCmd(e), analyticsCmd(e), segmentsCmd(e))
	envflag.Bind(cmd)
	return cmd
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table() *tabwriter.Writer { return tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0) }

func partnersCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "partners", Short: "List, add, suspend and activate partners; issue, list and revoke their certificates"}
	var p partners.Partner
	var limit int64
	var bundleDir string
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a partner",
		RunE: func(c *cobra.Command, _ []string) error {
			if c.Flags().Changed("liability-limit") {
				p.LiabilityLimit = (*coalition.Points)(&limit)
			}
			reg := partners.New(partners.Config{Tx: e.runner})
			added, err := reg.Add(c.Context(), p)
			if err != nil {
				return err
			}
			fmt.Printf("added partner %s (%s), id %s\n", added.Code, added.Name, added.ID)
			if bundleDir == "" {
				return nil
			}
			v, err := e.vault()
			if err != nil {
				return fmt.Errorf("partner added, but no certificate: %w (run partners issue-cert %s later)", err, added.Code)
			}
			return issueAndTell(c, v, reg, added, 0, bundleDir)
		},
	}
	add.Flags().StringVar(&p.Code, "code", "", "short unique code, e.g. cafe")
	add.Flags().StringVar(&p.Name, "name", "", "name shown to members")
	add.Flags().StringVar(&p.Kind, "kind", "", "kind of business, e.g. café")
	add.Flags().Int64Var(&p.EarnRateBP, "earn-rate-bp", 0, "share of the purchase given back as points' worth, in basis points (500 = 5%)")
	add.Flags().DurationVar(&p.ReturnWindow, "return-window", 0, "how long earned points stay pending, e.g. 336h for 14 days")
	add.Flags().IntVar(&p.PointsTTLDays, "points-ttl-days", 365, "days until earned points expire")
	add.Flags().StringVar(&bundleDir, "bundle-dir", "", "also issue the partner's client certificate bundle into this folder (needs Vault)")
	add.Flags().Int64Var(&limit, "liability-limit", 0, "most points the partner may have outstanding (issued, not yet spent or expired); no cap if not given")
	list := &cobra.Command{
		Use:   "list",
		Short: "List partners",
		RunE: func(c *cobra.Command, _ []string) error {
			ps, err := partners.New(partners.Config{Tx: e.runner}).List(c.Context())
			if err != nil {
				return err
			}
			// The rate a purchase earns now: the rules' where they give one.
			rs, err := rules.NewStore(rules.StoreConfig{Tx: e.runner}).InForce(c.Context(), e.runner.Pool(), time.Now())
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "CODE\tNAME\tKIND\tSTATUS\tEARN\tRETURN WINDOW\tPOINTS LIVE\tLIABILITY LIMIT\tID")
			for _, p := range ps {
				limitText := "none"
				if p.LiabilityLimit != nil {
					limitText = fmt.Sprintf("%d points", *p.LiabilityLimit)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s%%\t%s\t%d days\t%s\t%s\n", p.Code, p.Name, p.Kind, p.Status,
					bpPercent(rs.BaseRateBP(p.Code, p.EarnRateBP)), days(p.ReturnWindow), p.PointsTTLDays, limitText, p.ID)
			}
			return w.Flush()
		},
	}
	status := func(use, s, short string) *cobra.Command {
		return &cobra.Command{
			Use: use + " CODE", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				if err := partners.New(partners.Config{Tx: e.runner}).SetStatus(c.Context(), args[0], s); err != nil {
					return err
				}
				fmt.Printf("partner %s is %s\n", args[0], s)
				return nil
			},
		}
	}
	var none bool
	setLimit := &cobra.Command{
		Use:   "set-liability-limit CODE",
		Short: "Cap an existing partner's outstanding points (--liability-limit N), or lift the cap (--none)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var l *coalition.Points
			switch {
			case none == c.Flags().Changed("liability-limit"):
				return errors.New("give either --liability-limit N or --none")
			case !none:
				l = (*coalition.Points)(&limit)
			}
			if err := partners.New(partners.Config{Tx: e.runner}).SetLiabilityLimit(c.Context(), args[0], l); err != nil {
				return err
			}
			if l == nil {
				fmt.Printf("partner %s has no liability limit\n", args[0])
			} else {
				fmt.Printf("partner %s may have %d points outstanding\n", args[0], *l)
			}
			return nil
		},
	}
	setLimit.Flags().Int64Var(&limit, "liability-limit", 0, "most points the partner may have outstanding (issued, not yet spent or expired)")
	setLimit.Flags().BoolVar(&none, "none", false, "lift the partner's cap")
	cmd.AddCommand(certCmds(e)...)
	cmd.AddCommand(partnerStaffCmd(e))
	cmd.AddCommand(add, list, setLimit,
		status("suspend", "suspended", "Refuse a partner's requests from now on"),
		status("activate", "active", "Activate a suspended partner again: accept its requests"))
	return cmd
}

var (
	cardPattern  = regexp.MustCompile(`^[0-9]{16}$`)
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
)

// parseRef reads a member reference the way a person types it: a card
// number, a phone number, a member id, or a QR token.
func parseRef(s string) ledger.MemberRef {
	switch {
	case cardPattern.MatchString(s):
		return ledger.MemberRef{CardNumber: s}
	case phonePattern.MatchString(s):
		return ledger.MemberRef{Phone: s}
	}
	if id, err := coalition.ParseMemberID(s); err == nil {
		return ledger.MemberRef{ID: id}
	}
	return ledger.MemberRef{QRToken: s}
}

func membersCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "members", Short: "Look members up"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show CARD|PHONE|ID|QR",
		Short: "Show a member",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			l, err := e.ledger()
			if err != nil {
				return err
			}
			m, err := l.MemberOf(c.Context(), parseRef(args[0]))
			if err != nil {
				return err
			}
			s, err := l.Standing(c.Context(), ledger.MemberRef{ID: m.ID})
			if err != nil {
				return err
			}
			codes, err := partnerCodes(c.Context(), e.runner)
			if err != nil {
				return err
			}
			loc, err := clearing.New(clearing.Config{Tx: e.runner}).Zone(c.Context())
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintf(w, "id\t%s\ncard\t%s\nphone\t%s\nreferral code\t%s\nhome partner\t%s\nenrolled\t%s\n",
				m.ID, m.CardNumber, phone.Mask(m.PhoneLast2), m.ReferralCode, codes.of(m.HomePartnerID), m.EnrolledAt.In(loc).Format(time.RFC3339))
			if s.PeriodDays > 0 {
				tier := s.TierName
				if tier == "" {
					tier = "none"
				}
				fmt.Fprintf(w, "tier\t%s (spend %s over %d days)\n", tier, minorUnits(s.Spend), s.PeriodDays)
				if s.NextTier != "" {
					fmt.Fprintf(w, "next tier\t%s, %s to go\n", s.NextName, minorUnits(s.Needed))
				}
			}
			return w.Flush()
		},
	})
	return cmd
}

func balanceCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "balance CARD|PHONE|ID|QR",
		Short: "Show a member's balance",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			l, err := e.ledger()
			if err != nil {
				return err
			}
			b, err := l.BalanceOf(c.Context(), parseRef(args[0]))
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintf(w, "available\t%d\npending\t%d\nlocked\t%d\nheld\t%d\ndebt\t%d\nexpiring in 30 days\t%d\n",
				b.Available, b.Pending, b.Locked, b.Held, b.Debt, b.Expiring30d)
			if b.NextExpiryAt != nil {
				fmt.Fprintf(w, "next expiry\t%d points on %s\n", b.NextExpiryPoints, b.NextExpiryAt.Format(time.DateOnly))
			}
			return w.Flush()
		},
	}
}

func ledgerCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Ledger maintenance"}
	var grace time.Duration
	check := &cobra.Command{
		Use:   "check",
		Short: "Verify every ledger invariant over the whole database",
		Long: `check verifies that every transaction sums to zero, balances equal their entries,
lots' remaining equals earned minus consumed, debts equal their payments, and no
hold outlives its TTL unreleased. It prints each breach and exits with status 2
if there is any.`,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := e.ledger()
			if err != nil {
				return err
			}
			breaches, err := l.Check(c.Context(), grace)
			if err != nil {
				return err
			}
			for _, b := range breaches {
				fmt.Printf("BREACH  %s: %s\n", b.Invariant, b.Detail)
			}
			if len(breaches) > 0 {
				return errBreaches(len(breaches))
			}
			fmt.Println("ledger check: all invariants hold")
			return nil
		},
	}
	check.Flags().DurationVar(&grace, "hold-grace", 5*time.Minute, "how long past its TTL an active hold is tolerated (the sweeper's lag)")
	cmd.AddCommand(check)
	return cmd
}

func decodeHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) < 32 {
		return nil, errors.New("--phone-hash-key must be at least 32 bytes, hex-encoded")
	}
	return b, nil
}

// days shows a whole number of days as "14d", no time as "none", and
// anything else as Go writes a duration.
func days(d time.Duration) string {
	const day = 24 * time.Hour
	if d == 0 {
		return "none"
	}
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// codes names partners by their codes, as people know them.
type codes map[coalition.PartnerID]string

func partnerCodes(ctx context.Context, tx *txn.Runner) (codes, error) {
	ps, err := partners.New(partners.Config{Tx: tx}).List(ctx)
	if err != nil {
		return nil, err
	}
	m := codes{}
	for _, p := range ps {
		m[p.ID] = p.Code
	}
	return m, nil
}

// of is a partner's code, or its id if it has none here.
func (c codes) of(id coalition.PartnerID) string {
	if code, ok := c[id]; ok {
		return code
	}
	return id.String()
}
