"""The trusted data lab (数据不出域、可用不可见): synthetic twins, output checks, sandboxed jobs.

Owns everything by which outside developers build on real data without seeing it.
"""
