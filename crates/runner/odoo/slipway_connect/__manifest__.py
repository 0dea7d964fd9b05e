{
    'name': 'Slipway Connect',
    'summary': "Slipway's Connect button: a session for the administrator, opened by a signed token",
    'description': """Loaded server-wide by Slipway (server_wide_modules in odoo.conf); it needs
no installation. POST /slipway/connect/session with a token signed by the build's key opens a
session for the database's administrator, without any password.""",
    'version': '1.0',
    'category': 'Hidden',
    'author': 'Slipway',
    'license': 'LGPL-3',
    'depends': ['base'],
    'installable': True,
    'auto_install': False,
}
