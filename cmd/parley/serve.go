package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/control"
	"parley/dnsrecords"
	"parley/locales"
	"parley/outbound"
	"parley/procedure"
	"parley/smtpd"
	"parley/templates"
	"parley/threading"
	"parley/translate"
)

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	domain := fs.String("domain", "", "mail domain (overrides domain)")
	smtpAddr := fs.String("smtp", "", "SMTP listen address (overrides smtp.listen)")
	imapAddr := fs.String("imap", "", "IMAP listen address (overrides imap.listen)")
	subAddr := fs.String("submission", "", "SMTP submission listen address (overrides submission.listen)")
	metricsAddr := fs.String("metrics", "", "metrics and health HTTP listen address (overrides metrics.listen; \"off\": none)")
	smarthost := fs.String("smarthost", "", "deliver through this host:port (overrides outbound.smarthost and outbound.delivery)")
	outbox := fs.String("outbox", "", "Maildir for outbound mail when no smarthost is set")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *domain != "" {
		cfg.Domain = *domain
	}
	if *smtpAddr != "" {
		cfg.SMTP.Listen = *smtpAddr
	}
	if *imapAddr != "" {
		cfg.IMAP.Listen = *imapAddr
	}
	if *subAddr != "" {
		cfg.Submission.Listen = *subAddr
	}
	switch *metricsAddr {
	case "":
	case "off":
		cfg.Metrics.Listen = ""
	default:
		cfg.Metrics.Listen = *metricsAddr
	}
	if *smarthost != "" {
		cfg.Outbound.Smarthost, cfg.Outbound.Delivery = *smarthost, "smarthost"
	}
	if *outbox != "" {
		cfg.Outbound.Outbox = *outbox
	}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tuneGC(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log)
}

// serve runs the daemon until ctx is done, then shuts down in order: stop
// accepting mail, let sessions finish, stop workers, close the store.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	store, err := casestore.Open(cfg.DataDir, casestore.Options{})
	if errors.Is(err, casestore.ErrLocked) {
		return fmt.Errorf("another parley is already serving %s", cfg.DataDir)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	store.Blobs.CleanTmp()
	mon, err := startMonitor(cfg, store, log.With("part", "metrics"))
	if err != nil {
		return err
	}
	defer mon.close()
	keys, err := threading.LoadOrCreateKeys(keysPath(cfg.DataDir))
	if err != nil {
		return err
	}
	loc, err := loadLocales(cfg)
	if err != nil {
		return err
	}
	tmpl, err := templates.New(loc)
	if err != nil {
		return err
	}

	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	dk, err := loadDKIM(cfg)
	if err != nil {
		return err
	}
	if dk != nil {
		for _, k := range dk.Keys {
			value, _ := dnsrecords.DKIMValue(k.Signer.Public())
			log.Info("outbound mail is DKIM-signed; publish this TXT record (parley dns prints them all)", "name", k.Selector+"._domainkey."+cfg.Domain, "value", value)
		}
	}
	queue := outbound.New(store, outbound.Config{
		Smarthost: cfg.Outbound.Smarthost, TLS: cfg.Outbound.TLS,
		Username: cfg.Outbound.Username, Password: cfg.Outbound.Password,
		Outbox: cfg.Outbound.Outbox, GiveUp: cfg.Outbound.GiveUp.D(),
		MinBackoff: cfg.Outbound.MinBackoff.D(), MaxBackoff: cfg.Outbound.MaxBackoff.D(),
		Concurrency: cfg.Outbound.Concurrency, Timeout: cfg.Outbound.Timeout.D(), Hostname: cfg.Hostname, DKIM: dk,
		MaxInDoubt: cfg.Outbound.MaxInDoubt,
		Delivery:   cfg.Outbound.Mode(), Resolver: cfg.DNS.NewResolver(), MXPort: strconv.Itoa(cfg.Outbound.MXPort),
		DomainConcurrency: cfg.Outbound.MXDomainConcurrency,
		Metrics:           mon.reg.Outbound(),
	}, log.With("part", "outbound"))
	tr := cfg.Translation
	translator, err := translate.New(translate.Config{Engine: tr.Engine, URL: tr.URL, APIKey: tr.APIKey, Timeout: tr.Timeout.D()},
		&http.Client{Timeout: tr.Timeout.D()})
	if err != nil {
		return err
	}
	translator = mon.reg.Translations(translator)
	engine := procedure.NewEngine(store, keys, tmpl, loc, procedure.Config{
		Domain: cfg.Domain, Hostname: cfg.Hostname, Procedure: cfg.Procedure, Evidence: cfg.Evidence, Auth: cfg.Auth,
		Translator: translator, TranslateTimeout: tr.Timeout.D(), Resolver: cfg.DNS.NewResolver(),
		Metrics: mon.reg.Procedure(),
	}, log.With("part", "procedure"), queue.Add)
	runner := procedure.NewRunner(engine, cfg.Procedure.Workers)
	if err := queue.Start(workCtx); err != nil {
		return err
	}
	if err := runner.Start(workCtx); err != nil {
		return err
	}
	timersDone := make(chan struct{})
	go func() { defer close(timersDone); engine.RunTimers(workCtx) }()
	releaseDone := make(chan struct{})
	releaseTicker := time.NewTicker(mappedReleaseEvery)
	defer releaseTicker.Stop()
	go func() { defer close(releaseDone); releaseMapped(workCtx, store, releaseTicker.C, log) }()

	tlsSrc, closeTLS, err := startTLS(ctx, cfg, log.With("part", "tls"))
	if err != nil {
		return err
	}
	defer closeTLS()
	smtpCfg := smtpConfig(cfg)
	smtpCfg.TLSConfig = tlsSrc.TLSConfig() // STARTTLS on port 25 (LMTP never offers it)
	smtpCfg.Metrics = mon.reg.SMTP("smtp")
	smtpSrv := smtpd.New(smtpCfg, store, keys, runner, log.With("part", "smtp"))
	l, err := net.Listen("tcp", cfg.SMTP.Listen)
	if err != nil {
		return fmt.Errorf("listen SMTP: %w", err)
	}
	closeCtl, err := control.Serve(ctx, cfg.DataDir, &control.Ops{Store: store, Keys: keys, Domain: cfg.Domain, Locales: loc, Languages: loc.Supported}, log.With("part", "control"))
	if err != nil {
		l.Close()
		return err
	}
	defer closeCtl()
	mediators, err := startMediators(cfg, tlsSrc.TLSConfig(), store, keys, runner, mon, log)
	if err != nil {
		l.Close()
		return err
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- mon.serving("smtp", func() error { return smtpSrv.Serve(l) }) }()
	if cfg.SMTP.LMTPListen != "" {
		network, addr := "tcp", cfg.SMTP.LMTPListen
		if path, ok := strings.CutPrefix(addr, "unix:"); ok {
			network, addr = "unix", path
			os.Remove(path) // a socket left by a crash; the data lock says no other parley runs
		}
		ll, err := net.Listen(network, addr)
		if err != nil {
			return fmt.Errorf("listen LMTP: %w", err)
		}
		if network == "unix" {
			os.Chmod(addr, 0o660)
		}
		lmtpCfg := smtpCfg
		lmtpCfg.LMTP, lmtpCfg.Metrics = true, mon.reg.SMTP("lmtp")
		lmtpSrv := smtpd.New(lmtpCfg, store, keys, runner, log.With("part", "lmtp"))
		go func() { serveErr <- mon.serving("lmtp", func() error { return lmtpSrv.Serve(ll) }) }()
		defer lmtpSrv.Shutdown(context.Background())
		log.Info("LMTP listening", "addr", ll.Addr().String())
	}
	delivery := "smarthost " + cfg.Outbound.Smarthost
	switch cfg.Outbound.Mode() {
	case "mx":
		delivery = "direct to MX hosts, port " + strconv.Itoa(cfg.Outbound.MXPort)
	case "maildir":
		abs, _ := filepath.Abs(cfg.Outbound.Outbox)
		delivery = "Maildir " + abs
	}
	absData, _ := filepath.Abs(cfg.DataDir)
	mon.health.Up("parley")
	log.Info("parley serving", "smtp", l.Addr().String(), "domain", cfg.Domain, "data", absData,
		"delivery", delivery, "intake", "complaints@"+cfg.Domain)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if err != nil {
			log.Error("SMTP listener stopped", "err", err)
		}
	case err := <-mediators.errs:
		if err != nil {
			log.Error("mediator listener stopped", "err", err)
		}
	}
	log.Info("shutting down")
	mon.health.Down("parley", "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	smtpSrv.Shutdown(sctx)
	mediators.shutdown(sctx)
	stopWork()
	runner.Wait()
	<-timersDone
	<-releaseDone
	queue.Wait()
	return nil
}

// cmdInit writes the sample config and creates the data folder it names
// (or --data), so admin commands work before the first serve.
func cmdInit(args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	fs.Lookup("config").Usage = "where to write the sample config (default parley.toml)"
	force := fs.Bool("force", false, "overwrite an existing config file")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if cf.config == "" {
		cf.config = "parley.toml"
	}
	err := config.WriteSample(cf.config, *force)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; use --force to overwrite", cf.config)
	}
	if err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	made, err := createData(cfg.DataDir)
	if err != nil {
		return err
	}
	data := "created data folder " + cfg.DataDir
	if !made {
		data = "data folder " + cfg.DataDir + " already holds Parley data, left as it is"
	}
	fmt.Printf("wrote %s; %s\nevery value in the file is a default: edit what you need and run: parley serve --config %s\n", cf.config, data, cf.config)
	return nil
}

// createData makes an empty data folder: the bbolt file and the reply
// address keys. It reports false, touching nothing, when dir holds data.
func createData(dir string) (bool, error) {
	if _, err := os.Stat(casestore.DBPath(dir)); err == nil {
		return false, nil
	}
	store, err := casestore.Open(dir, casestore.Options{})
	if err != nil {
		return false, err
	}
	defer store.Close()
	if _, err := threading.LoadOrCreateKeys(keysPath(dir)); err != nil {
		return false, err
	}
	return true, store.Close()
}

// loadLocales loads the locales as the configuration wants them shown: dates
// in the operator's zone, the referral body's procedure by its name.
func loadLocales(cfg config.Config) (*locales.Bundle, error) {
	loc, err := locales.New(cfg.DefaultLang)
	if err != nil {
		return nil, err
	}
	zone, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", cfg.Timezone, err)
	}
	loc = loc.InZone(zone)
	if cfg.Procedure.ArbitrationKind == "binding_advice" {
		loc = loc.ForBindingAdvice()
	}
	return loc, nil
}

// smtpConfig is the [smtp] section as the listeners (SMTP, LMTP, submission)
// take it.
func smtpConfig(cfg config.Config) smtpd.Config {
	minFree := int64(cfg.SMTP.MinFreeSpace)
	if minFree == 0 {
		minFree = 4 * int64(cfg.SMTP.MaxMessageSize)
	}
	return smtpd.Config{
		Domain: cfg.Domain, Hostname: cfg.Hostname,
		MaxMessageSize: int64(cfg.SMTP.MaxMessageSize), MaxRecipients: cfg.SMTP.MaxRecipients,
		MaxLineLength: cfg.SMTP.MaxLineLength, MaxHeaderSize: int(cfg.SMTP.MaxHeaderSize),
		ReadTimeout: cfg.SMTP.ReadTimeout.D(), WriteTimeout: cfg.SMTP.WriteTimeout.D(),
		DataTimeout: cfg.SMTP.DataTimeout.D(), MaxConnections: cfg.SMTP.MaxConnections,
		MaxSession: cfg.SMTP.MaxSession.D(), MaxIdleCommands: cfg.SMTP.MaxIdleCommands, MinFreeSpace: minFree,
	}
}
