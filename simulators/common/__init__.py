"""Pieces both provider simulators share: serving (in-loop, in a thread, as a process), the
``/__sim/`` control-API plumbing, fault-rule matching and execution, strict JSON config objects
and minimal PDFs. Everything provider-specific stays in ``simulators.fakturownia`` and
``simulators.wfirma``.
"""
