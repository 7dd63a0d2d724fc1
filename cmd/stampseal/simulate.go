package main

import (
	"io"

	"github.com/stampseal/stampseal/fraud/sim"
)

// simulate runs the detection benchmark (fraud/sim) and prints its report.
func simulate(args []string, stdout, stderr io.Writer) error {
	d := sim.DefaultConfig()
	fs := newFlags("simulate", "Simulate a month of a three-shop bakery chain with honest customers and injected attacks,\nthrough the real service on a simulated clock; print recall, time to detect, false alerts\nand honest refusals (see docs/detection.md).", stderr)
	days := fs.Int("days", d.Days, "simulated days")
	customers := fs.Int("customers", d.Customers, "cards in circulation")
	attacks := fs.Int("attacks", d.Attacks, "attacks of each kind")
	seed := fs.Uint64("seed", d.Seed, "random seed: the same seed gives the same month")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep, err := sim.Run(sim.Config{Days: *days, Customers: *customers, Attacks: *attacks, Seed: *seed})
	if err != nil {
		return err
	}
	rep.Write(stdout)
	return nil
}
