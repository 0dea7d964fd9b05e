# Slipway's Connect: loaded server-wide (odoo.conf's server_wide_modules), never installed.
from . import controllers
