"""Django integration: add ``"warpserver.django"`` to INSTALLED_APPS to get
``python manage.py runwarp`` (like mod_wsgi's ``runmodwsgi``)."""
