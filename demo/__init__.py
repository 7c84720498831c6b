"""The demo: fictional brands, sample feeds and stand-in APIs served by Earshot itself.

Installed and routed only when DEBUG or EARSHOT_DEMO is on (config/settings.py,
config/urls.py). It may import the other apps; none of them imports it.
"""
