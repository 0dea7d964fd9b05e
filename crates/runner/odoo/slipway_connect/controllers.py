"""POST /slipway/connect/session: Slipway's Connect, for Odoo 16, 17 and 18.

The token (see signed_token.py) proves the request comes from Slipway. The session opened
is the one Odoo's ``Session.authenticate`` + ``finalize`` (odoo/http.py) would open for the
administrator, without their password: Slipway never knows it on production.
"""
import logging
import time

from odoo import http, tools
from odoo.http import request

from . import signed_token

_logger = logging.getLogger(__name__)
_nonces = signed_token.Nonces()


class SlipwayConnect(http.Controller):

    @http.route('/slipway/connect/session', type='http', auth='none', methods=['POST'],
                csrf=False, save_session=True)
    def slipway_connect_session(self, token=None, **_kw):
        now = int(time.time())
        try:
            if not request.db:
                raise signed_token.Refused('no database selected')
            key = tools.config.get('slipway_connect_key')
            nonce, expires = signed_token.verify(key, token, request.db, now)
            _nonces.use(nonce, expires, now)
        except signed_token.Refused as e:
            _logger.info('Slipway Connect refused: %s', e)
            return request.make_json_response({'error': str(e)}, status=403)

        env = request.env(su=True)
        admin = env.ref('base.user_admin', raise_if_not_found=False) or env['res.users'].browse(2)
        if not admin.exists() or not admin.active:
            return request.make_json_response({'error': 'the administrator is missing or archived'}, status=409)
        env = env(user=admin.id, su=False)
        user = env.user
        session = request.session
        # What Session.finalize does once a password is checked (Odoo 16 to 18).
        session.should_rotate = True
        session.update({
            'db': request.db,
            'login': user.login,
            'uid': user.id,
            'context': dict(env['res.users'].context_get()),
            'session_token': user._compute_session_token(session.sid),
        })
        request.update_env(user=user.id)
        if hasattr(user, '_update_last_login'):
            user._update_last_login()
        _logger.info('Slipway Connect: session opened for %s (uid %s)', user.login, user.id)
        return request.make_json_response({'uid': user.id, 'login': user.login, 'db': request.db})
