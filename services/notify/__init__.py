"""notify: notices to people and units over in-app, e-mail, SMS, messengers and OA webhooks."""
