"""Votes in a consultation's voting phase: ballots, questions, cast ballots, paper tally sheets and tallies."""
