"""The principal–agent lab: agents serving several principals under information asymmetry.

* :mod:`.scenarios`, :mod:`.runner`, :mod:`.analysis`, :mod:`.tinmen` — choice experiments
  (the Tin Men study's shopping scenarios and any scenario written as YAML): scenario ×
  information condition × model × temperature × samples, every transcript recorded, choice
  shares with Wilson intervals and a test of the condition effect; the published transcripts
  replay through the same runner and parser.
* :mod:`.delegation` — a delegated-shopping agent in the marketplace serving its user and the
  platform, and several principals with authority weights.
* :mod:`.contracts` — runtime contracts (preconditions, invariants, governance, recovery)
  checked before every action of an agent.
"""
